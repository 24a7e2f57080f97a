// The benches measure trapezoid as it is installed: compiled to dist/ by `npm run build:lib`
// (tsc), run by plain node. Run through tsx instead (what bin/trapezoid.js does in a checkout
// whose dist/ is stale), every function carries the name esbuild's keepNames gives it: an own
// `name` property, a 256-byte property store on each closure made per call, which measured
// about 20 % more heap and a slower hot path. So a bench builds first, then starts dist/ itself.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = new Set<string>();

/**
 * Compiles src/ to dist/ in the checkout at `dir` (this one by default; bench/ab.ts builds two),
 * once per bench run; throws with tsc's output when it fails.
 */
export function buildDist(dir = root): void {
  if (built.has(dir)) return;
  const started = Date.now();
  const r = spawnSync('npm', ['run', '--silent', 'build:lib'], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`npm run build:lib failed in ${dir}:\n${r.stdout}${r.stderr}`);
  built.add(dir);
  console.log(
    `built ${dir === root ? '' : `${dir}/`}dist/ with tsc in ${((Date.now() - started) / 1000).toFixed(1)} s: the compiled server is measured`,
  );
}

/** The compiled command line (`node <this> serve ...`), built first. */
export function compiledCli(): string {
  buildDist();
  return join(root, 'dist', 'cli', 'main.js');
}

/** Imports a compiled module of src/ (e.g. 'ua/index.js'), built first. */
export async function importCompiled<T>(path: string): Promise<T> {
  buildDist();
  return (await import(join(root, 'dist', path))) as T;
}
