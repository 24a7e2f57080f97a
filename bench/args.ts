// The benches' command line: `--name value`, with a default when it is not given.

/** The value after `--name` on the command line, or `dflt`. */
export function arg(name: string, dflt: string, argv = process.argv.slice(2)): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : dflt;
}
