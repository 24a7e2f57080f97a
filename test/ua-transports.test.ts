// Two user agents calling each other over every transport the UA offers beyond UDP/TCP
// (ua-calls.test.ts covers those): TLS (RFC 3261 §26, sips), WebSocket and secure WebSocket
// (RFC 7118), and UDP over IPv6. The caller's INVITE and ACK and the callee's BYE (sent to the
// caller's Contact, so both directions) must all cross the transport under test.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { selfSignedCertificate } from './support/certificate.ts';
import { UserAgent, type IncomingCall, type UserAgentOptions } from '../src/ua/index.ts';

const agents: UserAgent[] = [];
after(async () => {
  for (const ua of agents) await ua.stop();
});

async function callBothWays(
  protocol: 'tls' | 'ws' | 'wss' | 'udp',
  address: string,
  extra: Partial<UserAgentOptions> = {},
): Promise<void> {
  const host = address.includes(':') ? `[${address}]` : address;
  const make = (user: string) => {
    const ua = new UserAgent({
      uri: `sip:${user}@${host}`,
      transport: protocol,
      listen: `${protocol}:${host}:0`,
      ...extra,
    });
    agents.push(ua);
    return ua;
  };
  const alice = make('alice');
  const bob = make('bob');
  await alice.start();
  await bob.start();
  const bobEnd = bob.listening.find((e) => e.protocol === protocol);
  assert.ok(bobEnd, `bob listens on ${protocol}`);
  const scheme = protocol === 'tls' || protocol === 'wss' ? 'sips' : 'sip';
  const tparam = protocol === 'udp' ? '' : `;transport=${protocol === 'wss' ? 'ws' : protocol}`;
  // sips + transport=ws means wss; sips + transport=tls is not a thing: sips alone means TLS.
  const target = `${scheme}:bob@${host}:${bobEnd.port}${protocol === 'tls' ? '' : tparam}`;

  const incoming = new Promise<IncomingCall>((resolve) => bob.once('invite', resolve));
  const answering = incoming.then((c) => c.accept({ body: 'v=0\r\n' }));
  const call = await alice.invite(target, { body: 'v=0\r\no=offer\r\n' });
  const bobCall = await incoming;
  assert.equal(await answering, true, 'the ACK arrived');
  const topVia = bobCall.request.topVia;
  assert.equal(topVia.transport.toLowerCase(), protocol, 'the INVITE came over the transport');
  assert.equal(call.remoteBody?.toString(), 'v=0\r\n');
  // The callee hangs up: its BYE goes to the caller's Contact over the same kind of transport.
  const aliceEnded = call.whenEnded();
  assert.equal(await bobCall.bye(), 200);
  assert.deepEqual(await aliceEnded, { status: 200, reason: 'BYE', by: 'remote' });
  await alice.stop();
  await bob.stop();
}

test('a call over TLS (sips), both directions', async (t) => {
  const tls = selfSignedCertificate(t);
  if (!tls) return;
  await callBothWays('tls', '127.0.0.1', { tls, tlsClient: { ca: tls.cert } });
});

test('a call over WebSocket (RFC 7118), both directions', async () => {
  await callBothWays('ws', '127.0.0.1');
});

test('a call over secure WebSocket, both directions', async (t) => {
  const tls = selfSignedCertificate(t);
  if (!tls) return;
  await callBothWays('wss', '127.0.0.1', { tls, tlsClient: { ca: tls.cert } });
});

test('a call over UDP on IPv6 (::1), both directions', async () => {
  await callBothWays('udp', '::1');
});

test('listening on TLS without a certificate is a clear error', async () => {
  const ua = new UserAgent({ uri: 'sip:carol@127.0.0.1', listen: 'tls:127.0.0.1:5999' });
  agents.push(ua);
  await assert.rejects(ua.start(), /needs a key and certificate/);
});
