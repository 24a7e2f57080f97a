// Strict configuration at every depth (issue 11, item 4), through the real command: a typo deep in
// the YAML stops `trapezoid serve` before it listens (exit 2), and the message names the dotted
// path, the key that was probably meant, and the line and column, for every typo in the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './support/peers.ts';
import { Peer } from './ua-sipp-peer.ts';

test('typo in a config file: serve exits 2 naming path, suggestion, line and column of each', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-strict-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    [
      'domain: strict.example',
      `database: ${join(dir, 'never.db')}`,
      'media:',
      '  mod: relay', // line 4
      'security:',
      '  rateLimit: { requests: 100, perSecond: 2 }', // line 6
      'trunks:',
      '  - name: carrier',
      '    peers:',
      '      - { host: 192.0.2.1, trasport: tcp }', // line 10
      '',
    ].join('\n'),
  );
  const serve = new Peer(
    process.execPath,
    [join(repoRoot, 'bin', 'trapezoid.js'), 'serve', '--config', file],
    dir,
  );
  const done = await serve.finish(30_000);
  assert.equal(done.code, 2, done.stdout + done.stderr);
  assert.equal(done.stdout, '', 'nothing started');
  const expected = [
    `trapezoid serve: invalid config ${file}:`,
    '  - media.mod: unknown key "mod"; did you mean "mode"? (line 4, column 3)',
    '  - security.rateLimit.perSecond: unknown key "perSecond"; did you mean "perSeconds"? (line 6, column 31)',
    '  - trunks[0].peers[0].trasport: unknown key "trasport"; did you mean "transport"? (line 10, column 28)',
  ];
  assert.equal(done.stderr, `${expected.join('\n')}\n`);
});
