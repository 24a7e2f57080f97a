import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  answerChallenge,
  DigestClient,
  formatCredentials,
  pickChallenges,
  type Challenge,
} from './digest-client.ts';

// RFC 2617 §3.5 example.
test('MD5 with qop=auth matches the RFC 2617 example', () => {
  const ch: Challenge = {
    scheme: 'Digest',
    params: {
      realm: 'testrealm@host.com',
      qop: 'auth,auth-int',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      opaque: '5ccc069c403ebaf9f0171e9517f40e41',
    },
  };
  const out = answerChallenge(ch, {
    username: 'Mufasa',
    password: 'Circle Of Life',
    method: 'GET',
    uri: '/dir/index.html',
    cnonce: '0a4f113b',
    nc: 1,
  });
  assert.equal(out.response, '6629fae49393a05397450978507c4ef1');
  assert.equal(out.qop, 'auth');
  assert.equal(out.nc, '00000001');
  assert.equal(out.opaque, '5ccc069c403ebaf9f0171e9517f40e41');
});

// RFC 7616 §3.9.1 examples (same inputs, MD5 and SHA-256).
const rfc7616 = {
  realm: 'http-auth@example.org',
  qop: 'auth, auth-int',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
};
const rfc7616Input = {
  username: 'Mufasa',
  password: 'Circle of Life',
  method: 'GET',
  uri: '/dir/index.html',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  nc: 1,
};

test('SHA-256 matches the RFC 7616 example', () => {
  const out = answerChallenge(
    { scheme: 'Digest', params: { ...rfc7616, algorithm: 'SHA-256' } },
    rfc7616Input,
  );
  assert.equal(out.response, '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  assert.equal(out.algorithm, 'SHA-256');
});

test('MD5 matches the RFC 7616 example', () => {
  const out = answerChallenge(
    { scheme: 'Digest', params: { ...rfc7616, algorithm: 'MD5' } },
    rfc7616Input,
  );
  assert.equal(out.response, '8ca523f5e9506fed4657c9700eebdbec');
});

test('MD5-sess computes HA1 over the nonce and cnonce', () => {
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const out = answerChallenge(
    { scheme: 'Digest', params: { realm: 'r', nonce: 'n', qop: 'auth', algorithm: 'MD5-sess' } },
    { username: 'u', password: 'p', method: 'INVITE', uri: 'sip:b@x', cnonce: 'c', nc: 2 },
  );
  const ha1 = md5(`${md5('u:r:p')}:n:c`);
  const expected = md5(`${ha1}:n:00000002:c:auth:${md5('INVITE:sip:b@x')}`);
  assert.equal(out.response, expected);
  assert.equal(out.algorithm, 'MD5-sess');
});

test('no qop (RFC 2069 compatibility) leaves out nc and cnonce', () => {
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const out = answerChallenge(
    { scheme: 'Digest', params: { realm: 'r', nonce: 'n' } },
    { username: 'u', password: 'p', method: 'REGISTER', uri: 'sip:x' },
  );
  assert.equal(out.response, md5(`${md5('u:r:p')}:n:${md5('REGISTER:sip:x')}`));
  assert.equal(out.nc, undefined);
  assert.equal(out.cnonce, undefined);
  assert.equal(out.algorithm, undefined);
});

test('the strongest supported algorithm is picked per realm, unknown ones ignored', () => {
  const picked = pickChallenges([
    { scheme: 'Digest', params: { realm: 'a', nonce: '1', algorithm: 'MD5' } },
    { scheme: 'Digest', params: { realm: 'a', nonce: '2', algorithm: 'SHA-256' } },
    { scheme: 'Digest', params: { realm: 'a', nonce: '3', algorithm: 'SHA-999' } },
    { scheme: 'Basic', params: { realm: 'b' } },
    { scheme: 'Digest', params: { realm: 'c', nonce: '4' } },
  ]);
  assert.deepEqual(
    picked.map((c) => c.params.nonce),
    ['2', '4'],
  );
});

test('DigestClient counts nc per nonce and restarts it on a new nonce', () => {
  const client = new DigestClient('alice', 'secret');
  const req = { method: 'REGISTER', uri: 'sip:example.com' };
  const first = client.answer(
    401,
    [{ scheme: 'Digest', params: { realm: 'r', nonce: 'A', qop: 'auth' } }],
    req,
  );
  assert.equal(first.length, 1);
  assert.equal(first[0].header, 'Authorization');
  assert.match(first[0].value, /nc=00000001/);
  const again = client.cachedAnswers(req);
  assert.match(again[0].value, /nc=00000002/);
  const proxy = client.answer(
    407,
    [{ scheme: 'Digest', params: { realm: 'r', nonce: 'B', qop: 'auth' } }],
    req,
  );
  assert.equal(proxy[0].header, 'Proxy-Authorization');
  assert.match(proxy[0].value, /nc=00000001/);
  assert.match(proxy[0].value, /nonce="B"/);
});

test('formatCredentials quotes strings but not algorithm, qop and nc', () => {
  const v = formatCredentials({ username: 'a"b', algorithm: 'MD5', qop: 'auth', nc: '00000001' });
  assert.equal(v, 'Digest username="a\\"b", algorithm=MD5, qop=auth, nc=00000001');
});

test('DigestClient remembers a bounded number of nonces, dropping the least recently used', () => {
  const client = new DigestClient('alice', 'secret');
  const req = { method: 'OPTIONS', uri: 'sip:example.com' };
  const sign = (nonce: string) =>
    client.sign(
      { scheme: 'Digest', params: { realm: 'r', nonce, qop: 'auth' } },
      'Authorization',
      req,
    ).value;
  assert.match(sign('keep'), /nc=00000001/);
  for (let i = 0; i < 1000; i++) {
    sign(`n${i}`);
    if (i % 100 === 0) sign('keep'); // used now and then: stays remembered
  }
  assert.match(sign('keep'), /nc=0000000c/); // 1 + 10 + this one = 12
  // n0 was used once, 999 nonces ago: forgotten, so it counts from 1 again.
  assert.match(sign('n0'), /nc=00000001/);
  assert.match(sign('n999'), /nc=00000002/);
});
