// Loop detection on a running `trapezoid serve` (RFC 3261 §16.3 step 4, §16.6 step 8): a dial
// plan that sends 777... over a trunk whose peer is the server itself. The first return is a
// spiral (the Request-URI was rewritten for the trunk: a different request), and is routed again;
// the second return is the same request as the first and must be answered 482 Loop Detected, not
// carried on until Max-Forwards runs out (483 after 70 passes).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { serve, type Served } from './security-peer.ts';
import { freePort } from './support/ports.ts';
import { RawPhone } from './support/raw-phone.ts';

const DOMAIN = 'loop.trapezoid';
let server: Served;
let caller: RawPhone;

before(async () => {
  caller = await RawPhone.open('127.0.0.2');
  const sip = await freePort();
  server = await serve(
    {
      domain: DOMAIN,
      trunks: [
        { name: 'carrier', peers: [{ host: '127.0.0.2', port: caller.port }], transit: true },
        { name: 'self', peers: [{ host: '127.0.0.1', port: sip }], transit: true },
      ],
      dialplan: [{ match: { regex: '^777' }, route: { action: 'trunk', trunk: 'self' } }],
    },
    { sip, http: await freePort() },
    'loop',
  );
});

after(async () => {
  await caller?.close();
  await server?.stop();
});

async function invitesReceived(): Promise<number> {
  const metrics = await server.get('/metrics');
  const m = /^trapezoid_sip_requests_total\{method="INVITE"\} (\d+)$/m.exec(metrics);
  return m ? Number(m[1]) : 0;
}

test('a request that comes back unchanged is answered 482; a spiral is routed on', async () => {
  const before = await invitesReceived();
  const uri = `sip:7771@${DOMAIN}`;
  const invite = caller.build({
    method: 'INVITE',
    uri,
    from: `sip:carrier@127.0.0.2`,
    to: uri,
    callId: `loop-${Date.now()}@127.0.0.2`,
  });
  const answer = await caller.request(invite.text, server.sip, 8000);
  assert.equal(answer?.status, 482, `the caller gets Loop Detected, got ${answer?.status}`);
  // The caller's INVITE, its spiral, and the return that was the spiral unchanged.
  assert.equal((await invitesReceived()) - before, 3);
});
