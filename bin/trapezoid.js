#!/usr/bin/env node
// Entry point of the `trapezoid` command: runs the compiled command line in dist/ (`npm run
// build`), with no TypeScript loader. An installed package has only dist/.
//
// In a git checkout (src/ beside dist/) an edit must never be hidden by an older build: when
// dist/ is missing, or a source file is newer than it, the sources run through tsx (a dev
// dependency) instead. Checking costs a few milliseconds of stat calls, in checkouts only.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
const sourceDir = fileURLToPath(new URL('../src/', import.meta.url));

/** True when the sources are present and dist/ is missing or older than one of them. */
function buildIsStale() {
  if (!existsSync(sourceDir)) return false;
  if (!existsSync(compiled)) return true;
  const built = statSync(compiled).mtimeMs;
  for (const entry of readdirSync(sourceDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
    if (statSync(`${entry.parentPath}/${entry.name}`).mtimeMs > built) return true;
  }
  return false;
}

if (buildIsStale()) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
} else {
  await import(compiled.href);
}
