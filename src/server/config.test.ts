import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  closestKey,
  ConfigError,
  editDistance,
  loadConfig,
  mediaRelayAddress,
  validateConfig,
} from './config.ts';

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

/** The ConfigError a config raises (validateConfig for an object, loadConfig for YAML text). */
function configError(raw: unknown): ConfigError {
  try {
    if (typeof raw === 'string') {
      const file = join(mkdtempSync(join(tmpdir(), 'trapezoid-config-')), 'typo.yaml');
      writeFileSync(file, raw);
      loadConfig(file);
    } else validateConfig(raw, 'x.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('typo at every depth: an unknown key is an error naming its path, the closest key, line and column', () => {
  const err = configError(
    [
      'domain: typo.example', // 1
      'media:', // 2
      '  mod: relay', // 3: depth 2
      'security:', // 4
      '  rateLimit:', // 5
      '    reqests: 10', // 6: depth 3
      'trunks:', // 7
      '  - name: carrier', // 8
      '    peers:', // 9
      '      - host: 192.0.2.1', // 10
      '        prot: 5070', // 11: depth 4, inside two lists
      'dialplan:', // 12
      '  - match: { prefx: "475" }', // 13: a key of a union of shapes
      '    route: { action: trunk, trunk: carrier, trunc: x }', // 14: of a discriminated union
      'http: { adress: 0.0.0.0 }', // 15
    ].join('\n'),
  );
  const byPath = new Map(err.issues.map((i) => [i.path, i]));
  const expect = (path: string, suggestion: string, line: number, column: number) => {
    const issue = byPath.get(path);
    assert.ok(issue, `an issue at ${path}: ${err.problems.join('\n')}`);
    assert.equal(issue.suggestion, suggestion, path);
    assert.deepEqual([issue.line, issue.column], [line, column], path);
    assert.match(issue.message, new RegExp(`unknown key .*did you mean "${suggestion}"\\?`));
  };
  expect('media.mod', 'mode', 3, 3);
  expect('security.rateLimit.reqests', 'requests', 6, 5);
  expect('trunks[0].peers[0].prot', 'port', 11, 9);
  expect('dialplan[0].match.prefx', 'prefix', 13, 14);
  expect('dialplan[0].route.trunc', 'trunk', 14, 45);
  expect('http.adress', 'address', 15, 9);
  assert.ok(
    err.problems.includes('media.mod: unknown key "mod"; did you mean "mode"? (line 3, column 3)'),
    err.problems.join('\n'),
  );
  // The problems come in the file's order.
  const lines = err.issues.map((i) => i.line ?? Infinity);
  assert.deepEqual(
    lines,
    [...lines].sort((a, b) => a - b),
  );
});

test('an unknown key far from every valid one lists the keys its section takes', () => {
  const err = configError({ registrar: { bindingsPerUser: 3 } });
  const issue = err.issues.find((i) => i.path === 'registrar.bindingsPerUser');
  assert.ok(issue, err.problems.join('\n'));
  assert.equal(issue.suggestion, undefined);
  assert.match(issue.message, /registrar takes: minExpires, maxExpires, defaultExpires/);
  assert.equal(issue.line, undefined, 'no position without a file');
  // A misspelt key is never silently dropped, even when everything else is valid.
  assert.throws(() => validateConfig({ users: [{ user: 'a', password: 'x', pasword: 'y' }] }), {
    message: /users\[0\]\.pasword: unknown key "pasword"; did you mean "password"\?/,
  });
});

test('a value error in a file carries its line and column too', () => {
  const err = configError('listen:\n  - { transport: udp, address: 127.0.0.1, port: 99999 }\n');
  assert.equal(err.issues[0]!.path, 'listen[0].port');
  assert.deepEqual([err.issues[0]!.line, err.issues[0]!.column], [2, 49]);
});

test('closestKey: typos, swapped letters and case are near; unrelated words are not', () => {
  const keys = ['mode', 'ports', 'timeoutSeconds', 'address'];
  assert.equal(closestKey('mod', keys), 'mode');
  assert.equal(closestKey('adress', keys), 'address');
  assert.equal(closestKey('prots', keys), 'ports');
  assert.equal(closestKey('TimeoutSeconds', keys), 'timeoutSeconds');
  assert.equal(closestKey('codec', keys), undefined);
  assert.equal(editDistance('ports', 'prots'), 1);
  assert.equal(editDistance('', 'abc'), 3);
});

test('http beyond loopback needs http.token; a token is long enough; hosts are names', () => {
  const problems = (raw: unknown) => {
    try {
      validateConfig(raw);
      return '';
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems.join('\n');
    }
  };
  assert.match(problems({ http: { address: '0.0.0.0' } }), /^http\.token: required/m);
  assert.match(problems({ http: { address: '::' } }), /^http\.token: required/m);
  assert.match(problems({ http: { address: '192.0.2.10' } }), /^http\.token: required/m);
  assert.match(problems({ http: { address: 'pbx.example' } }), /^http\.token: required/m);
  for (const loopback of ['127.0.0.1', '127.0.0.2', '::1', 'localhost'])
    assert.equal(problems({ http: { address: loopback } }), '', loopback);
  assert.equal(problems({ http: { address: '0.0.0.0', token: 'a'.repeat(32) } }), '');
  assert.match(problems({ http: { token: 'short' } }), /^http\.token: at least 16/m);
  assert.match(
    problems({ http: { hosts: ['pbx.example:8060'] } }),
    /^http\.hosts\[0\]: a host name/m,
  );
  assert.equal(problems({ http: { hosts: ['pbx.example', '.lab.example'] } }), '');
  assert.deepEqual(validateConfig({}).http, {
    address: '127.0.0.1',
    port: 8060,
    hosts: [],
    readWithoutToken: false,
  });
});

test('monitoring tools are not scanners: sipsak is not in the default scanner list', () => {
  const defaults = validateConfig({}).security.scannerUserAgents;
  assert.ok(!defaults.some((s) => 'sipsak 0.9.8'.includes(s)), defaults.join());
  for (const scanner of ['friendly-scanner', 'sipvicious', 'sipcli', 'sip-scan', 'iwar'])
    assert.ok(defaults.includes(scanner), scanner);
});

test('overload: defaults, and a resumeBelow above shedAbove is refused', () => {
  const c = validateConfig({});
  assert.deepEqual(c.overload, {
    shedAbove: 0.97,
    sustainMs: 500,
    resumeBelow: 0.9,
    windowMs: 100,
    rejectAfterMs: 2000,
    retryAfterSeconds: 5,
  });
  assert.equal(validateConfig({ overload: { shedAbove: 0 } }).overload.shedAbove, 0);
  assert.throws(
    () => validateConfig({ overload: { shedAbove: 0.8, resumeBelow: 0.9 } }),
    /resumeBelow must not be above shedAbove/,
  );
  assert.throws(() => validateConfig({ overload: { shedAbove: 1.5 } }));
});
