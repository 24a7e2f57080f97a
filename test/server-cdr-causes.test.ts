// One CDR per INVITE attempt, with its cause (issue 11, item 1), on a running `trapezoid serve`:
// a callee that answers busy or declines, a call that is answered and hung up, and attempts the
// server refuses itself (wrong password, no such user). Caller and callee are written user@domain.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DigestClient } from '../src/ua/digest-client.ts';
import type { CdrRecord } from '../src/store/store.ts';
import { serve, type Served } from './security-peer.ts';
import { freePort } from './support/ports.ts';
import { RawPhone } from './support/raw-phone.ts';

const DOMAIN = 'causes.trapezoid';
const RING_SECONDS = 2;
const aor = (u: string) => `sip:${u}@${DOMAIN}`;
let server: Served;
let callee: RawPhone;
let caller: RawPhone;

before(async () => {
  [callee, caller] = await Promise.all([RawPhone.open('127.0.0.4'), RawPhone.open('127.0.0.2')]);
  server = await serve(
    {
      domain: DOMAIN,
      users: [
        { user: '1000', password: 'causes-secret-1000' },
        { user: '1001', password: 'causes-secret-1001' },
      ],
      // Timer C: a call ringing this long is cancelled (the `timeout` cause below).
      proxy: { ringTimeoutSeconds: RING_SECONDS },
    },
    { sip: await freePort(), http: await freePort() },
    'causes',
  );
  const reg = await callee.register(server.sip, DOMAIN, '1001', 'causes-secret-1001');
  assert.equal(reg.status, 200);
});

after(async () => {
  await Promise.all([callee?.close(), caller?.close()]);
  await server?.stop();
});

/** An INVITE from 1000 to `to`, answering the 407 with `password`: the final answer. */
async function call(to: string, password: string, callId: string, ms = 4000) {
  const base = { method: 'INVITE', uri: aor(to), from: aor('1000'), to: aor(to), callId };
  const challenged = await caller.request(caller.build({ ...base, cseq: 1 }).text, server.sip);
  assert.equal(challenged?.status, 407);
  const [answer] = new DigestClient('1000', password).answer(407, challenged!.proxyAuthenticate, {
    method: 'INVITE',
    uri: aor(to),
  });
  return caller.request(
    caller.build({ ...base, cseq: 2, extra: [`Proxy-Authorization: ${answer!.value}`] }).text,
    server.sip,
    ms,
  );
}

test('CDR causes: busy, declined, answered, wrong password, unknown user; one row each', async () => {
  const stamp = Date.now();
  const id = (s: string) => `causes-${s}-${stamp}@127.0.0.2`;
  callee.answers.set('INVITE', 486);
  assert.equal((await call('1001', 'causes-secret-1000', id('busy')))?.status, 486);
  callee.answers.set('INVITE', 603);
  assert.equal((await call('1001', 'causes-secret-1000', id('declined')))?.status, 603);
  callee.answers.delete('INVITE');
  const ok = await call('1001', 'causes-secret-1000', id('answered'));
  assert.equal(ok?.status, 200);
  assert.equal((await call('1001', 'wrong-password', id('wrong')))?.status, 403);
  assert.equal((await call('4242', 'causes-secret-1000', id('nobody')))?.status, 404);

  const expect: Array<[string, number, string]> = [
    ['busy', 486, 'callee-busy'],
    ['declined', 603, 'declined'],
    ['answered', 200, 'answered'],
    ['wrong', 403, 'auth-failed'],
    ['nobody', 404, 'no-route'],
  ];
  const all = JSON.parse(await server.get('/api/cdrs?limit=1000')) as CdrRecord[];
  for (const [name, status, cause] of expect) {
    const rows = all.filter((c) => c.callId === id(name));
    assert.equal(rows.length, 1, `${name}: one CDR`);
    assert.equal(rows[0]!.finalStatus, status, name);
    assert.equal(rows[0]!.cause, cause, name);
    assert.equal(rows[0]!.caller, `1000@${DOMAIN}`);
  }
  const answered = all.find((c) => c.callId === id('answered'))!;
  assert.equal(answered.callee, `1001@${DOMAIN}`);
  assert.ok(answered.answer !== undefined && answered.end === undefined, 'answered, not ended');
});

test('CDR cause timeout: a callee still ringing after proxy.ringTimeoutSeconds is cancelled, the caller gets 408', async () => {
  const callId = `causes-ringing-${Date.now()}@127.0.0.2`;
  const cancelsBefore = callee.received.filter((r) => r.method === 'CANCEL').length;
  callee.answers.set('INVITE', 180); // rings, never answers
  const started = Date.now();
  try {
    const res = await call('1001', 'causes-secret-1000', callId, 20_000);
    const waited = (Date.now() - started) / 1000;
    assert.equal(res?.status, 408, 'Timer C: the caller is told the callee did not answer');
    assert.ok(waited >= RING_SECONDS - 0.2, `answered after ${waited} s, not before Timer C`);
  } finally {
    callee.answers.delete('INVITE');
  }
  const cancels = callee.received.filter((r) => r.method === 'CANCEL');
  assert.equal(cancels.length, cancelsBefore + 1, 'the ringing callee got one CANCEL');
  assert.equal(cancels.at(-1)!.callId, callId);
  const all = JSON.parse(await server.get('/api/cdrs?limit=1000')) as CdrRecord[];
  const rows = all.filter((c) => c.callId === callId);
  assert.equal(rows.length, 1, 'one CDR');
  assert.equal(rows[0]!.finalStatus, 408);
  assert.equal(rows[0]!.cause, 'timeout');
  assert.equal(rows[0]!.answer, undefined, 'never answered');
});

/** A call to 1001 ringing (180) that gets one more provisional after RERING_MS: seconds to the 408. */
async function ringTillTimerC(callId: string, status?: number): Promise<number> {
  callee.answers.set('INVITE', 180);
  callee.rering = { afterMs: RERING_MS, ...(status !== undefined ? { status } : {}) };
  const started = Date.now();
  try {
    const res = await call('1001', 'causes-secret-1000', callId, 20_000);
    assert.equal(res?.status, 408);
    return (Date.now() - started) / 1000;
  } finally {
    callee.answers.delete('INVITE');
    callee.rering = undefined;
  }
}

const RERING_MS = 1500;

test('Timer C restarts on a provisional (RFC 3261 §16.7 step 2): a second 180 gives the callee another ring timeout', async () => {
  const callId = `causes-rering-${Date.now()}@127.0.0.2`;
  const waited = await ringTillTimerC(callId);
  // Without the restart the 408 comes RING_SECONDS after the first 180; with it, RING_SECONDS
  // after the second.
  assert.ok(
    waited >= RERING_MS / 1000 + RING_SECONDS - 0.2,
    `408 after ${waited} s: Timer C was not restarted by the second 180`,
  );
  assert.ok(waited < RERING_MS / 1000 + RING_SECONDS + 2, `408 only after ${waited} s`);
  const invites = callee.received.filter((r) => r.method === 'INVITE' && r.callId === callId);
  assert.equal(invites.length, 1, 'one INVITE reached the callee');
  const cancels = callee.received.filter((r) => r.method === 'CANCEL' && r.callId === callId);
  assert.equal(cancels.length, 1, 'cancelled once, when the restarted Timer C fired');
});

test('Timer C is not restarted by a 100 Trying (§16.7 step 2: only 101-199 restart it)', async () => {
  const callId = `causes-trying-${Date.now()}@127.0.0.2`;
  const waited = await ringTillTimerC(callId, 100);
  assert.ok(waited >= RING_SECONDS - 0.2, `408 after ${waited} s, before Timer C`);
  assert.ok(
    waited < RERING_MS / 1000 + RING_SECONDS - 0.5,
    `408 after ${waited} s: the late 100 restarted Timer C`,
  );
});
