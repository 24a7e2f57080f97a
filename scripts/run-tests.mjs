#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node:test through tsx.
// Node 20 has no glob support in `--test`, so the files are listed here.
// Usage: node scripts/run-tests.mjs [path-substring ...]   (filters the file list)
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(relative(root, p));
  }
}
for (const d of ['src', 'test']) {
  try {
    walk(join(root, d));
  } catch {
    /* folder absent */
  }
}
const filters = process.argv.slice(2);
const chosen = files
  .sort()
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (chosen.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    '--test-timeout=240000',
    // Not --test-force-exit: on Linux it exits a file's process with the last reports still in
    // its stdout pipe, and the run then counts fewer tests than ran, with fail 0 (nodejs/node
    // issue 64833; here one CI run reported 1050 of 1051, a file's last test missing). A file
    // that leaks a handle is caught by the watchdog below instead, which names it.
    ...chosen,
  ],
  { cwd: root, stdio: 'inherit' },
);
// A test file that never ends (a peer process left holding its pipes, an open socket) would hold
// the whole run until CI's limit: give up after WATCHDOG_MINUTES with a message that says so.
const WATCHDOG_MINUTES = Number(process.env.TEST_WATCHDOG_MINUTES ?? 25);
const watchdog = setTimeout(() => {
  console.error(`run-tests: still running after ${WATCHDOG_MINUTES} minutes; stopping the run`);
  // The test runner runs each file in a process of its own, its path among the arguments.
  try {
    const running = execFileSync('ps', ['--ppid', String(child.pid), '-o', 'args='], {
      encoding: 'utf8',
    })
      .split('\n')
      .map((args) => chosen.find((f) => args.includes(f)))
      .filter(Boolean);
    if (running.length > 0) console.error(`run-tests: still running: ${running.join(', ')}`);
  } catch {
    /* no ps: the message above stands alone */
  }
  child.kill('SIGKILL');
}, WATCHDOG_MINUTES * 60_000);
watchdog.unref();
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
