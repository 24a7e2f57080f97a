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

// Subcommands register themselves here (one line each). Only the command being run is loaded:
// each pulls in its own layers (serve: the server, SQLite, pino; analyze: capture and render), so
// `trapezoid --version` loads none of them and `trapezoid analyze` none of the server's. Help and
// unknown commands load them all, so that commander can list them and suggest the closest.
const commandModules: Record<string, () => Promise<{ register(p: Command): void }>> = {
  serve: () => import('./serve.ts'),
  user: () => import('./user.ts'),
  cdr: () => import('./cdr.ts'),
  analyze: () => import('./analyze.ts'),
  phone: () => import('./phone.ts'),
  parse: () => import('./parse.ts'),
  cert: () => import('./cert.ts'),
};
const first = process.argv[2];
const wanted =
  first === '-V' || first === '--version'
    ? []
    : first !== undefined && Object.hasOwn(commandModules, first)
      ? [first]
      : Object.keys(commandModules);
for (const name of wanted) (await commandModules[name]!()).register(program);

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
