// Digest authentication as a client, end to end over loopback UDP (RFC 3261 §22.2, RFC 7616,
// RFC 8760): a small UAS written here challenges the user agent and checks every answer with its
// own digest computation (node:crypto), independent of src/ua/digest-client.ts. Covers SHA-256,
// several challenges in one response (two realms, and two algorithms for one realm), a 401 then
// a 407 on a BYE inside a dialog, nc counting on a reused nonce, and a refusal that ends.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import {
  createResponse,
  parseMessage,
  SipRequest,
  type DigestCredentials,
  type SipResponse,
} from '../src/sip/index.ts';
import { UserAgent } from '../src/ua/index.ts';

const USER = 'alice';
const PASSWORD = 'wonder land';

function h(algorithm: string, text: string): string {
  const name = algorithm.toUpperCase().startsWith('SHA-256') ? 'sha256' : 'md5';
  return createHash(name).update(text).digest('hex');
}

/** The response a correct client computes for these credentials (qop=auth), or an error text. */
function verify(method: string, cred: DigestCredentials, nonce: string, realm: string): string {
  const p = cred.params;
  if (p.username !== USER) return `username ${p.username}`;
  if (p.realm !== realm) return `realm ${p.realm}`;
  if (p.nonce !== nonce) return `nonce ${p.nonce}`;
  if (p.qop !== 'auth') return `qop ${p.qop}`;
  const alg = p.algorithm ?? 'MD5';
  const ha1 = h(alg, `${USER}:${realm}:${PASSWORD}`);
  const ha2 = h(alg, `${method}:${p.uri}`);
  const expected = h(alg, `${ha1}:${nonce}:${p.nc}:${p.cnonce}:auth:${ha2}`);
  return p.response === expected ? 'ok' : `wrong response for ${realm}`;
}

/** A UDP UAS: hands each request to `handle`, sends what it returns. */
class Challenger {
  readonly socket: Socket = createSocket('udp4');
  port = 0;
  readonly seen: SipRequest[] = [];
  handle: (req: SipRequest) => SipResponse | undefined = () => undefined;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', () => resolve()));
    this.port = this.socket.address().port;
    this.socket.on('message', (data, rinfo) => {
      const msg = parseMessage(data);
      if (!(msg instanceof SipRequest)) return;
      this.seen.push(msg);
      const res = this.handle(msg);
      if (res) this.socket.send(res.toBuffer(), rinfo.port, rinfo.address);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

let server: Challenger;
let ua: UserAgent;

afterEach(async () => {
  await ua.stop();
  await server.close();
});

async function setUp(): Promise<string> {
  server = new Challenger();
  await server.start();
  ua = new UserAgent({
    uri: 'sip:alice@example.test',
    password: PASSWORD,
    listen: 'udp:127.0.0.1:0',
    timers: { T1: 50 },
  });
  await ua.start();
  return `sip:svc@127.0.0.1:${server.port}`;
}

test('one 401 with two realms (one offering SHA-256 and MD5): SHA-256 chosen, both answered', async () => {
  const target = await setUp();
  const checks: string[] = [];
  server.handle = (req) => {
    const creds = req.authorization;
    if (creds.length === 0) {
      const res = createResponse(req, 401, undefined, { toTag: 'uas' });
      res.append(
        'WWW-Authenticate',
        'Digest realm="a.test", nonce="na", qop="auth", algorithm=MD5',
      );
      res.append(
        'WWW-Authenticate',
        'Digest realm="a.test", nonce="na", qop="auth", algorithm=SHA-256',
      );
      res.append('WWW-Authenticate', 'Digest realm="b.test", nonce="nb", qop="auth,auth-int"');
      return res;
    }
    const a = creds.find((c) => c.params.realm === 'a.test');
    const b = creds.find((c) => c.params.realm === 'b.test');
    checks.push(`count ${creds.length}`, `a alg ${a?.params.algorithm}`);
    checks.push(a ? verify(req.method, a, 'na', 'a.test') : 'no a.test');
    checks.push(b ? verify(req.method, b, 'nb', 'b.test') : 'no b.test');
    const ok = checks.slice(-2).every((c) => c === 'ok');
    return createResponse(req, ok ? 200 : 403, undefined, { toTag: 'uas' });
  };
  const res = await ua.options(target);
  assert.deepEqual(checks, ['count 2', 'a alg SHA-256', 'ok', 'ok']);
  assert.equal(res.status, 200);
  // The retry is a new transaction with CSeq + 1 (§8.1.3.5, §22.2).
  assert.equal(server.seen.length, 2);
  assert.equal(server.seen[1].cseq.seq, server.seen[0].cseq.seq + 1);
  assert.notEqual(server.seen[1].topVia.branch, server.seen[0].topVia.branch);
});

test('a call challenged 401 then 407 (SHA-256 proxy), then a BYE challenged on the same nonce counts nc', async () => {
  const target = await setUp();
  const problems: string[] = [];
  const ncs: string[] = [];
  server.handle = (req) => {
    if (req.method === 'ACK') return undefined;
    const www = req.authorization.find((c) => c.params.realm === 'uas.test');
    const proxy = req.proxyAuthorization.find((c) => c.params.realm === 'proxy.test');
    if (!www) {
      const res = createResponse(req, 401, undefined, { toTag: 'uas' });
      res.append('WWW-Authenticate', 'Digest realm="uas.test", nonce="n1", qop="auth"');
      return res;
    }
    const v1 = verify(req.method, www, 'n1', 'uas.test');
    if (v1 !== 'ok') problems.push(`${req.method} ${v1}`);
    if (!proxy) {
      const res = createResponse(req, 407, undefined, { toTag: 'uas' });
      res.append(
        'Proxy-Authenticate',
        'Digest realm="proxy.test", nonce="n2", qop="auth", algorithm=SHA-256',
      );
      return res;
    }
    const v2 = verify(req.method, proxy, 'n2', 'proxy.test');
    if (v2 !== 'ok') problems.push(`${req.method} ${v2}`);
    ncs.push(`${req.method} ${www.params.nc} ${proxy.params.nc}`);
    const res = createResponse(req, 200, undefined, { toTag: 'uas' });
    if (req.method === 'INVITE') res.set('Contact', `<sip:svc@127.0.0.1:${server.port}>`);
    return res;
  };
  const call = await ua.invite(target);
  assert.equal(call.state, 'answered');
  // The ACK for the 2xx carries the INVITE's credentials (§22.1 / §13.2.2.4).
  await new Promise((r) => setTimeout(r, 50));
  const answered = server.seen.filter((m) => m.method === 'INVITE').at(-1);
  const ack = server.seen.find((m) => m.method === 'ACK' && m.cseq.seq === answered?.cseq.seq);
  assert.ok(ack, 'the 2xx was ACKed');
  assert.equal(ack.authorization.length, 1);
  assert.equal(ack.proxyAuthorization.length, 1);
  // The BYE is challenged again from scratch (no cached credentials) and answered on the same
  // nonces: nc goes on counting per nonce.
  assert.equal(await call.bye(), 200);
  assert.deepEqual(problems, []);
  assert.equal(ncs[0], 'INVITE 00000002 00000001');
  assert.match(ncs[1], /^BYE 0000000[3-9] 0000000[2-9]$/);
  const methods = server.seen.map((m) => m.method);
  assert.deepEqual(methods.slice(0, 6), ['INVITE', 'ACK', 'INVITE', 'ACK', 'INVITE', 'ACK']);
});

test('credentials refused again: one answer per challenge, then the 401 is final', async () => {
  const target = await setUp();
  server.handle = (req) => {
    const res = createResponse(req, 401, undefined, { toTag: 'uas' });
    res.append('WWW-Authenticate', 'Digest realm="r.test", nonce="same", qop="auth"');
    return res;
  };
  const res = await ua.options(target);
  assert.equal(res.status, 401);
  assert.equal(server.seen.length, 2, 'the first request and one answer, no loop');
  assert.equal(server.seen[1].authorization.length, 1);
});
