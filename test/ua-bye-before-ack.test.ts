// The UAS side when the caller's ACK is missing or late, driven by scripted SIPp callers (no
// random loss): a BYE before the ACK ends the call at once and stops the 2xx retransmissions
// (RFC 3261 §13.3.1.4, §15; RFC 5407 §3.1.2), a late ACK stops them, INVITE retransmissions after
// the 200 or the BYE open nothing, no ACK at all ends the call with our BYE after 64*T1, and a BYE
// on the early dialog (after our 180, before any final response) ends the call with 487.
//
// SIPp matches a `<recv response="200">` to any method it sent before, so a retransmitted 200 of
// the INVITE could pass for the 200 of its BYE: every BYE here is its own transaction
// (start_txn / response_txn).
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needTool } from './support/peers.ts';
import { SEND_200_TO_LAST } from './support/sipp-scenarios.ts';
import {
  events,
  freePort,
  Peer,
  phone,
  scratchDir,
  sippErrors,
  waitForOutput,
} from './ua-sipp-peer.ts';
import { UserAgent, type CallEnd, type IncomingCall } from '../src/ua/index.ts';

const started: Peer[] = [];
after(() => {
  for (const p of started) p.kill();
});

// ------------------------------------------------------------------ SIPp scenario parts

const CALLER_TAG = '[pid]SIPpTag00[call_number]';
const FROM = `sipp <sip:sipp@[local_ip]:[local_port]>;tag=${CALLER_TAG}`;
const TO = '[service] <sip:[service]@[remote_ip]:[remote_port]>';
/** One fixed branch for the INVITE, its retransmissions and the ACK of a non-2xx answer. */
const INVITE_BRANCH = 'z9hG4bK-[pid]-[call_number]-invite';

/** The INVITE (PCMU offer); `retrans` on the first copy, none on a copy sent again by hand. */
function invite(retrans: boolean): string {
  return `  <send${retrans ? ' retrans="500"' : ''}>
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=${INVITE_BRANCH}
      From: ${FROM}
      To: ${TO}
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>`;
}

/** SIPp's INVITE (resent until answered) and the phone's answer, 100 and 180 optional. */
const INVITE_ANSWERED = [
  invite(true),
  '  <recv response="100" optional="true"/>',
  '  <recv response="180" optional="true"/>',
  '  <recv response="200"/>',
];

/** The ACK: of the 2xx (a new transaction) or of a non-2xx answer (the INVITE's branch). */
function ack(of2xx: boolean): string {
  return `  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=${of2xx ? '[branch]' : INVITE_BRANCH}
      From: ${FROM}
      To: ${TO}[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>`;
}

/**
 * A BYE as its own transaction `txn` with From tag `fromTag`, and the answer `status` matched to
 * it (not to a late 200 of the INVITE).
 */
function byeAnswered(txn: string, fromTag: string, status: number): string {
  return `  <send start_txn="${txn}" retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=${fromTag}
      To: ${TO}[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="${status}" response_txn="${txn}"/>`;
}

/** The caller's BYE, answered 200. */
const BYE_AND_200 = byeAnswered('bye', CALLER_TAG, 200);

/** A BYE in the call's Call-ID and To tag, but with a From tag that is not the caller's: 481. */
const FORGED_BYE_AND_481 = byeAnswered('forged', 'forged[call_number]', 481);

const pause = (ms: number) => `  <pause milliseconds="${ms}"/>`;

function scenario(name: string, steps: string[]): string {
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="${name}">
${steps.join('\n')}
</scenario>
`;
}

// ------------------------------------------------------------------ running SIPp

interface Traced {
  direction: 'sent' | 'received';
  /** Start line: 'INVITE sip:...' or 'SIP/2.0 200 OK'. */
  start: string;
  /** CSeq header value: '1 INVITE'. */
  cseq: string;
}

/** The messages SIPp sent and received, in order, from its -trace_msg log. */
function traced(dir: string): Traced[] {
  const file = readdirSync(dir).find((f) => f.endsWith('_messages.log'));
  if (!file) return [];
  const out: Traced[] = [];
  for (const block of readFileSync(join(dir, file), 'utf8').split(/^-{20,} .*$/m)) {
    const m = /^\s*UDP message (sent|received)[^\n]*\n+([^\r\n]+)[\s\S]*?^CSeq:\s*([^\r\n]+)/m.exec(
      block,
    );
    if (m) {
      out.push({
        direction: m[1] === 'sent' ? 'sent' : 'received',
        start: m[2].trim(),
        cseq: m[3].trim(),
      });
    }
  }
  return out;
}

const isInvite200 = (m: Traced) =>
  m.direction === 'received' && m.start.startsWith('SIP/2.0 200') && m.cseq === '1 INVITE';

/** Runs one call of `xml` against 127.0.0.1:`port`; resolves with SIPp's exit code and trace. */
async function runSipp(
  sippPath: string,
  xml: string,
  port: number,
): Promise<{ code: number | null; dir: string; messages: Traced[]; stdout: string }> {
  const dir = scratchDir();
  const file = join(dir, 'scenario.xml');
  writeFileSync(file, xml);
  const sippPort = await freePort();
  const sipp = new Peer(
    sippPath,
    [
      '-sf',
      file,
      `127.0.0.1:${port}`,
      '-p',
      String(sippPort),
      '-m',
      '1',
      '-i',
      '127.0.0.1',
      '-nostdin',
      '-trace_err',
      '-trace_msg',
      '-timeout',
      '30s',
    ],
    dir,
  );
  started.push(sipp);
  const result = await sipp.finish(45000);
  return { code: result.code, dir, messages: traced(dir), stdout: result.stdout };
}

function describe(messages: Traced[]): string {
  return messages.map((m) => `${m.direction} ${m.start} (${m.cseq})`).join('\n');
}

/** `trapezoid phone --answer --calls 1` on a free UDP port, listening. */
async function answeringPhone(): Promise<{ peer: Peer; port: number }> {
  const port = await freePort();
  const peer = phone(['--answer', '--listen', `udp:127.0.0.1:${port}`, '--calls', '1', '--json']);
  started.push(peer);
  await waitForOutput(peer, /"event":"listening"/, 30000);
  return { peer, port };
}

function sippPath(t: TestContext): string | undefined {
  return needTool(t, 'sipp', 'sip-tester');
}

/**
 * One SIPp call of `steps` to an answering phone; SIPp must succeed. Undefined when SIPp is
 * missing (the test is skipped).
 */
async function callThePhone(
  t: TestContext,
  name: string,
  steps: string[],
): Promise<{ peer: Peer; messages: Traced[] } | undefined> {
  const sipp = sippPath(t);
  if (!sipp) return undefined;
  const { peer, port } = await answeringPhone();
  const run = await runSipp(sipp, scenario(name, steps), port);
  assert.equal(run.code, 0, `SIPp failed:\n${sippErrors(run.dir)}\n${describe(run.messages)}`);
  return { peer, messages: run.messages };
}

/**
 * What the phone reported, once it has exited by itself (--calls 1: after its one call has
 * ended and its 2 s linger), and the calls it says were answered and ended.
 */
async function phoneReport(peer: Peer): Promise<{
  stdout: string;
  evs: ReturnType<typeof events>;
  answered: number;
  ended: ReturnType<typeof events>;
}> {
  const result = await peer.finish(20000);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const evs = events(result.stdout);
  return {
    stdout: result.stdout,
    evs,
    answered: evs.filter((e) => e.event === 'answered').length,
    ended: evs.filter((e) => e.event === 'ended'),
  };
}

// ------------------------------------------------------------------ the phone (UAS) and SIPp

test('BYE before the ACK: the phone answers it 200, ends the call as the remote, stops resending its 200; INVITE retransmissions reopen nothing', async (t) => {
  const call = await callThePhone(t, 'BYE before ACK', [
    ...INVITE_ANSWERED,
    // No ACK. The INVITE again after the 200 (a retransmission that crossed it)...
    invite(false),
    pause(100),
    BYE_AND_200,
    // ... and after the BYE; then 2.5 s for any 200 still resent (T1 = 0.5 s: at least two).
    invite(false),
    pause(2500),
  ]);
  if (!call) return;
  const { messages } = call;
  const byeOk = messages.findIndex(
    (m) => m.direction === 'received' && m.cseq === '2 BYE' && m.start.startsWith('SIP/2.0 200'),
  );
  assert.ok(byeOk > 0, describe(messages));
  // Nothing comes back after the BYE's 200: no 200 of the INVITE, no new call's 180/200.
  const later = messages.slice(byeOk + 1).filter((m) => m.direction === 'received');
  assert.deepEqual(later, [], describe(messages));

  const { stdout, evs, answered, ended } = await phoneReport(call.peer);
  assert.equal(evs.filter((e) => e.event === 'incoming').length, 1, stdout);
  assert.equal(answered, 0, 'no ACK came');
  assert.equal(ended.length, 1, stdout);
  assert.equal(ended[0].by, 'remote');
  assert.equal(ended[0].status, 200);
  assert.equal(ended[0].reason, 'BYE');
});

test('ACK lost once (sent after the first 200 retransmission): the call is answered, the resends stop, the BYE ends it', async (t) => {
  const call = await callThePhone(t, 'late ACK', [
    ...INVITE_ANSWERED,
    // The first ACK "lost": T1 = 0.5 s after its 200 the phone sends it again (SIPp absorbs
    // that copy), and only then does the ACK go.
    pause(1000),
    ack(true),
    // The next resend would be 1 s after the first: none may come.
    pause(1500),
    BYE_AND_200,
    pause(500),
  ]);
  if (!call) return;
  const { messages } = call;
  const ackAt = messages.findIndex((m) => m.direction === 'sent' && m.start.startsWith('ACK'));
  assert.ok(ackAt > 0, describe(messages));
  const before = messages.slice(0, ackAt).filter(isInvite200).length;
  const afterAck = messages.slice(ackAt + 1).filter(isInvite200).length;
  assert.ok(before >= 2, `the 200 is retransmitted while no ACK came:\n${describe(messages)}`);
  assert.equal(afterAck, 0, `no 200 after the ACK:\n${describe(messages)}`);

  const { stdout, answered, ended } = await phoneReport(call.peer);
  assert.equal(answered, 1, stdout);
  assert.deepEqual(
    ended.map((e) => [e.status, e.by]),
    [[200, 'remote']],
  );
});

test('a BYE with the right Call-ID and To tag but another From tag gets 481 and ends nothing; then the real BYE ends the call', async (t) => {
  const call = await callThePhone(t, 'forged BYE', [
    ...INVITE_ANSWERED,
    ack(true),
    pause(200),
    FORGED_BYE_AND_481,
    pause(500),
    // the same CSeq as the forged one: the forged request did not move the dialog's CSeq
    BYE_AND_200,
    pause(200),
  ]);
  if (!call) return;
  const answers = call.messages
    .filter((m) => m.direction === 'received' && m.cseq === '2 BYE')
    .map((m) => m.start);
  assert.deepEqual(
    answers,
    ['SIP/2.0 481 Call/Transaction Does Not Exist', 'SIP/2.0 200 OK'],
    describe(call.messages),
  );

  const { stdout, answered, ended } = await phoneReport(call.peer);
  assert.equal(answered, 1, stdout);
  assert.deepEqual(
    ended.map((e) => [e.status, e.by, e.reason]),
    [[200, 'remote', 'BYE']],
  );
});

// ------------------------------------------------------------------ the library's UAS and SIPp

/** A user agent on a free UDP port with short timers, answering or ringing with `onInvite`. */
async function agent(
  timers: { T1: number; T2: number },
  onInvite: (call: IncomingCall) => void,
): Promise<{ ua: UserAgent; port: number }> {
  const ua = new UserAgent({ uri: 'sip:service@127.0.0.1', listen: 'udp:127.0.0.1:0', timers });
  await ua.start();
  ua.on('invite', onInvite);
  const port = ua.listening.find((e) => e.protocol === 'udp')?.port ?? 0;
  return { ua, port };
}

/** §13.3.1.4's schedule: how many times a 2xx is resent in 64*T1 (T1, 2T1, ... capped at T2). */
function resendsIn64T1(t1: number, t2: number): number {
  let at = 0;
  let interval = t1;
  let count = 0;
  while (at + interval < 64 * t1) {
    at += interval;
    count += 1;
    interval = Math.min(2 * interval, t2);
  }
  return count;
}

test('no ACK and no BYE: the 2xx is resent on the T1..T2 schedule, and after 64*T1 the call ends with our BYE (timeout)', async (t) => {
  const sipp = sippPath(t);
  if (!sipp) return;
  const timers = { T1: 50, T2: 4000 };
  let answeredAt = 0;
  let call: IncomingCall | undefined;
  const { ua, port } = await agent(timers, (c) => {
    call = c;
    c.ring();
    answeredAt = performance.now();
    void c.accept({ body: 'v=0\r\n' });
  });
  try {
    const ended = new Promise<{ end: CallEnd; at: number }>((resolve) => {
      ua.once('invite', (c) =>
        c.once('ended', (end) => resolve({ end, at: performance.now() - answeredAt })),
      );
    });
    const run = await runSipp(
      sipp,
      scenario('never ACKs', [
        ...INVITE_ANSWERED,
        // Its retransmissions are absorbed by SIPp (same bytes); then our BYE comes.
        '  <recv request="BYE" timeout="15000"/>',
        SEND_200_TO_LAST,
      ]),
      port,
    );
    assert.equal(run.code, 0, `SIPp failed:\n${sippErrors(run.dir)}\n${describe(run.messages)}`);
    const { end, at } = await ended;
    assert.deepEqual(end, { status: 408, reason: 'No ACK', by: 'timeout' } satisfies CallEnd);
    // Ends at 64*T1 (3.2 s), not at the resend after it; room for a loaded machine.
    assert.ok(at >= 64 * timers.T1 - 20, `ended after ${at} ms`);
    assert.ok(at < 64 * timers.T1 + 1500, `ended after ${at} ms`);
    const byeAt = run.messages.findIndex(
      (m) => m.direction === 'received' && m.cseq.endsWith('BYE'),
    );
    assert.ok(byeAt > 0, describe(run.messages));
    assert.equal(
      run.messages.slice(0, byeAt).filter(isInvite200).length,
      1 + resendsIn64T1(timers.T1, timers.T2),
      describe(run.messages),
    );
    assert.equal(run.messages.slice(byeAt).filter(isInvite200).length, 0, describe(run.messages));
    assert.equal(call?.state, 'ended');
    assert.equal(ua.activeCalls.length, 0);
  } finally {
    await ua.stop();
  }
});

test('BYE on the early dialog (after our 180, before any answer): 200 to the BYE, 487 to the INVITE, the call ended by the remote', async (t) => {
  const sipp = sippPath(t);
  if (!sipp) return;
  let call: IncomingCall | undefined;
  const { ua, port } = await agent({ T1: 500, T2: 4000 }, (c) => {
    call = c;
    c.ring(); // and never answers
  });
  try {
    const ended = new Promise<CallEnd>((resolve) =>
      ua.once('invite', (c) => c.once('ended', resolve)),
    );
    const run = await runSipp(
      sipp,
      scenario('BYE on the early dialog', [
        invite(true),
        '  <recv response="100" optional="true"/>',
        '  <recv response="180"/>',
        BYE_AND_200,
        '  <recv response="487"/>',
        ack(false),
        pause(1000),
      ]),
      port,
    );
    assert.equal(run.code, 0, `SIPp failed:\n${sippErrors(run.dir)}\n${describe(run.messages)}`);
    assert.deepEqual(await ended, {
      status: 487,
      reason: 'Request Terminated',
      by: 'remote',
    } satisfies CallEnd);
    // The ACK stopped the 487's retransmissions: one 487 only.
    const finals = run.messages.filter(
      (m) => m.direction === 'received' && m.start.startsWith('SIP/2.0 487'),
    );
    assert.equal(finals.length, 1, describe(run.messages));
    // Too late to answer now.
    assert.equal(await call?.accept(), false);
    assert.equal(ua.activeCalls.length, 0);
  } finally {
    await ua.stop();
  }
});
