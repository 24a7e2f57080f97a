// The package as a user gets it: built with `npm run build:lib`, packed with `npm pack`, installed
// from the tarball into an empty project with `npm install`, then imported from plain Node ESM
// (every entry of the exports map), run as a command (no TypeScript loader installed), and
// type-checked from a small TypeScript user and the examples/ programs.
//
// The build runs in a copy of the repository (src/, package.json, tsconfigs) so that this test
// never rewrites the dist/ that bin/trapezoid.js of the working tree may be running.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './support/peers.ts';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  exports: Record<string, unknown>;
};
const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let scratch = '';
let app = '';

function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeoutMs = 120_000,
): SpawnSyncReturns<string> {
  const res = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    // npm must not treat the project as part of the repository's workspace or config.
    env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' },
  });
  assert.equal(
    res.status,
    0,
    `${cmd} ${args.join(' ')} (in ${cwd}) failed: ${res.error?.message ?? ''}\n${res.stdout}\n${res.stderr}`,
  );
  return res;
}

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'trapezoid-package-'));

  // A copy of what the build reads, with the repository's node_modules for the compiler.
  const copy = join(scratch, 'trapezoid');
  mkdirSync(copy);
  for (const entry of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'bin']) {
    cpSync(join(repoRoot, entry), join(copy, entry), { recursive: true });
  }
  for (const doc of readdirSync(repoRoot).filter((f) => /^(README|LICENSE)/i.test(f))) {
    cpSync(join(repoRoot, doc), join(copy, doc));
  }
  symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'), 'dir');
  run(npm, ['run', 'build:lib'], copy);
  const packed = run(
    npm,
    ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch],
    copy,
  );
  const [info] = JSON.parse(packed.stdout) as Array<{
    filename: string;
    files: { path: string }[];
  }>;
  const shipped = info!.files.map((f) => f.path);
  assert.ok(
    shipped.includes('dist/index.js') && shipped.includes('dist/index.d.ts'),
    'dist shipped',
  );
  assert.ok(shipped.includes('bin/trapezoid.js'), 'bin shipped');
  assert.ok(!shipped.some((f) => f.startsWith('src/')), `no sources shipped: ${shipped.join(' ')}`);
  assert.ok(!shipped.some((f) => /\.(test|contract)\.(js|d\.ts)$/.test(f)), 'no tests shipped');
  assert.ok(shipped.includes('LICENSE'), 'the licence is shipped');

  // An empty project installs the tarball (its dependencies from npm's cache when there).
  app = join(scratch, 'app');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'trapezoid-user', private: true, type: 'module' }),
  );
  // --ignore-scripts: better-sqlite3 would compile its addon (90 s); importing it needs no addon.
  run(
    npm,
    ['install', '--prefer-offline', '--ignore-scripts', join(scratch, info!.filename)],
    app,
    180_000,
  );
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('every entry of the exports map loads from plain Node ESM and works', () => {
  const entries = Object.keys(pkg.exports)
    .filter((k) => k !== './package.json')
    .map((k) => (k === '.' ? pkg.name : `${pkg.name}/${k.slice(2)}`));
  assert.ok(entries.length >= 8, `exports: ${entries.join(' ')}`);
  writeFileSync(
    join(app, 'use.mjs'),
    `
import { parseMessage, SipRequest, createResponse, renderText } from 'trapezoid';
import { parseUri } from 'trapezoid/sip';
import { ulawEncode, ulawDecode } from 'trapezoid/media';
import { validateConfig } from 'trapezoid/server';
const counts = {};
for (const entry of ${JSON.stringify(entries)}) counts[entry] = Object.keys(await import(entry)).length;
const req = parseMessage(
  'OPTIONS sip:bob@example.com SIP/2.0\\r\\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\\r\\n' +
  'From: <sip:alice@example.com>;tag=1\\r\\nTo: <sip:bob@example.com>\\r\\nCall-ID: c1\\r\\n' +
  'CSeq: 1 OPTIONS\\r\\nMax-Forwards: 70\\r\\nContent-Length: 0\\r\\n\\r\\n');
const res = createResponse(req, 200);
console.log(JSON.stringify({
  counts,
  isRequest: req instanceof SipRequest,
  status: res.status,
  callId: res.callId,
  host: parseUri('sip:carol@chicago.example.com:5070;transport=tcp').host,
  ulaw: ulawDecode(ulawEncode(1000)),
  domain: validateConfig({}).domain,
  renderText: typeof renderText,
}));
`,
  );
  const out = run(process.execPath, ['use.mjs'], app);
  const result = JSON.parse(out.stdout) as {
    counts: Record<string, number>;
    isRequest: boolean;
    status: number;
    callId: string;
    host: string;
    ulaw: number;
    domain: string;
    renderText: string;
  };
  for (const [entry, n] of Object.entries(result.counts)) assert.ok(n > 0, `${entry} is empty`);
  assert.equal(result.isRequest, true);
  assert.equal(result.status, 200);
  assert.equal(result.callId, 'c1');
  assert.equal(result.host, 'chicago.example.com');
  assert.ok(Math.abs(result.ulaw - 1000) < 64, `G.711 round trip: ${result.ulaw}`);
  assert.equal(result.domain, 'demo.trapezoid');
  assert.equal(result.renderText, 'function');
});

test('internals are not importable: only the exports map is the API', () => {
  const res = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', "await import('trapezoid/dist/sip/parser.js')"],
    { cwd: app, encoding: 'utf8' },
  );
  assert.notEqual(res.status, 0);
  assert.match(res.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
});

test('the installed command runs the compiled code with no TypeScript loader', () => {
  assert.equal(existsSync(join(app, 'node_modules', 'tsx')), false, 'tsx is not a dependency');
  assert.equal(existsSync(join(app, 'node_modules', 'typescript')), false);
  const bin = join(app, 'node_modules', '.bin', 'trapezoid');
  assert.equal(run(bin, ['--version'], app).stdout.trim(), pkg.version);
  writeFileSync(
    join(app, 'bad.sip'),
    'INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP host;branch=z9hG4bK1\r\nCSeq: x INVITE\r\n\r\n',
  );
  const parsed = spawnSync(bin, ['parse', 'bad.sip'], { cwd: app, encoding: 'utf8' });
  assert.equal(parsed.status, 1, parsed.stderr);
  assert.match(parsed.stdout + parsed.stderr, /CSeq/);
});

test('a TypeScript user and the examples type-check against the installed declarations', () => {
  writeFileSync(
    join(app, 'user.ts'),
    `
import { UserAgent, parseMessage, SipResponse, type UserAgentOptions, type ServerConfig } from 'trapezoid';
import { DialPlan } from 'trapezoid/server';
import type { LadderCall } from 'trapezoid/render';

const options: UserAgentOptions = { uri: 'sip:alice@example.com', listen: 'udp:127.0.0.1:0' };
export const ua = new UserAgent(options);
export const plan: typeof DialPlan = DialPlan;
export function firstHost(call: LadderCall): string | undefined {
  return call.hosts[0]?.id;
}
export function domainOf(config: ServerConfig): string {
  return config.domain;
}
const message = parseMessage('SIP/2.0 200 OK\\r\\n\\r\\n');
if (message instanceof SipResponse) {
  // @ts-expect-error status is a number: the declarations are typed, not any
  const status: string = message.status;
  void status;
}
// @ts-expect-error internals are outside the exports map
import('trapezoid/dist/sip/parser.js');
`,
  );
  cpSync(join(repoRoot, 'examples'), join(app, 'examples'), {
    recursive: true,
    filter: (src) => !/\.(ya?ml|sip)$/.test(src),
  });
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(repoRoot, 'node_modules', '@types')],
      },
      include: ['user.ts', 'examples'],
    }),
  );
  run(process.execPath, [tsc, '-p', '.'], app);
});
