import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, mediaRelayAddress, validateConfig } from './config.ts';

test('an empty config is the demo default', () => {
  const cfg = validateConfig({});
  assert.equal(cfg.domain, 'demo.trapezoid');
  assert.deepEqual(
    cfg.listen.map((l) => `${l.transport}:${l.address}:${l.port}`),
    ['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060'],
  );
  assert.equal(cfg.database, './trapezoid.db');
  assert.equal(cfg.http.port, 8060);
});

test('errors name the field and what is wrong', () => {
  const problems = (raw: unknown): string[] => {
    try {
      validateConfig(raw, 'x.yaml');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    assert.fail('expected a ConfigError');
  };
  assert.match(
    problems({ listen: [{ transport: 'sctp', address: '1.2.3.4', port: 5060 }] })[0]!,
    /^listen\[0\]\.transport: /,
  );
  assert.match(
    problems({ listen: [{ transport: 'udp', address: 'a', port: 70000 }] })[0]!,
    /^listen\[0\]\.port: /,
  );
  assert.match(
    problems({ users: [{ user: '1000' }] })[0]!,
    /^users\[0\]: a user needs a password or an ha1/,
  );
  assert.match(
    problems({
      dialplan: [{ match: { prefix: '777' }, route: { action: 'trunk', trunk: 'nope' } }],
    })[0]!,
    /^dialplan\[0\]\.route\.trunk: no trunk named "nope"/,
  );
  assert.match(problems({ colour: 'blue' })[0]!, /colour/);
  assert.match(
    problems({
      users: [
        { user: 'a', password: 'x' },
        { user: 'a', password: 'y' },
      ],
    })[0]!,
    /^users\[1\]\.user: duplicate user "a"/,
  );
});

test('loadConfig reads YAML and reports bad YAML and unreadable files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-config-'));
  const good = join(dir, 'good.yaml');
  writeFileSync(
    good,
    [
      'domain: atlanta.example',
      'users:',
      '  - { user: "4751000", password: secret }',
      'trunks:',
      '  - name: biloxi',
      '    peers: [{ host: 127.0.0.1, port: 5070 }]',
      'dialplan:',
      '  - { match: { prefix: "475" }, route: { action: local } }',
      '  - { match: { pattern: _777XXXX }, route: { action: trunk, trunk: biloxi } }',
    ].join('\n'),
  );
  const cfg = loadConfig(good);
  assert.equal(cfg.domain, 'atlanta.example');
  assert.equal(cfg.trunks[0]!.peers[0]!.transport, 'udp');
  assert.equal(cfg.dialplan.length, 2);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'users: [\n');
  assert.throws(() => loadConfig(bad), /not valid YAML/);
  assert.throws(() => loadConfig(join(dir, 'missing.yaml')), /cannot read/);
});

test('media relay: the address phones reach comes from the listener or media.address', () => {
  const problems = (raw: unknown): string[] => {
    try {
      validateConfig(raw, 'x.yaml');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    return [];
  };
  const wildcard = [{ transport: 'udp', address: '0.0.0.0', port: 5060 }];
  assert.equal(mediaRelayAddress(validateConfig({ media: { mode: 'relay' } })), '127.0.0.1');
  assert.match(
    problems({ listen: wildcard, media: { mode: 'relay' } }).join(),
    /^media\.address: media relay needs an address the phones can reach \(listen\[0\] is 0\.0\.0\.0\)/,
  );
  const cfg = validateConfig({ listen: wildcard, media: { mode: 'relay', address: '192.0.2.7' } });
  assert.equal(mediaRelayAddress(cfg), '192.0.2.7');
  assert.deepEqual(problems({ listen: wildcard }), [], 'direct media needs no address');
  assert.match(problems({ media: { address: 'pbx.example' } }).join(), /media\.address: an IPv4/);
  assert.match(problems({ media: { address: '::' } }).join(), /not a wildcard/);
  assert.match(problems({ media: { ports: '30001-30001' } }).join(), /media\.ports/);
  assert.match(problems({ media: { ports: '80-200' } }).join(), /media\.ports: the range/);
});
