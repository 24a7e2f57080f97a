// The `trapezoid` command line: a thin commander front. Each subcommand lives in its own file
// (src/cli/<name>.ts) exporting `register(program)`, and only parses flags before calling the
// layer below.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command();
program
  .name('trapezoid')
  .description('SIP and VoIP toolkit: call server, softphone, capture analyzer, SIP parser')
  .version(pkg.version)
  .showHelpAfterError()
  .exitOverride();

// Subcommands register themselves here (one line each).
const commands: Array<{ register(p: Command): void }> = [
  // (commands are added as their layers land)
  await import('./serve.ts'),
  await import('./user.ts'),
  await import('./cdr.ts'),
  await import('./analyze.ts'),
  await import('./phone.ts'),
  await import('./parse.ts'),
  await import('./cert.ts'),
];
for (const c of commands) c.register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Usage errors exit 2; --help and --version exit 0.
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`trapezoid: ${message}\n`);
  process.exit(1);
}
