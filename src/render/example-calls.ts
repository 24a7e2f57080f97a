// Hand-made call models for the renderers' tests and for trying a renderer by hand: a call through
// a proxy with media, a rejected call with a retransmission, and a report holding both.
import type { LadderCall, LadderMessage, Report } from './model.ts';

const T0 = 1_700_000_000;

interface Step {
  at: number;
  from: string;
  to: string;
  method: string;
  status?: number;
  reason?: string;
  sdp?: string;
  retransmission?: boolean;
}

function sipText(step: Step, callId: string): string {
  const start =
    step.status === undefined
      ? `${step.method} sip:bob@example.com SIP/2.0`
      : `SIP/2.0 ${step.status} ${step.reason ?? ''}`.trimEnd();
  const lines = [
    start,
    `Via: SIP/2.0/UDP ${step.from};branch=z9hG4bK${callId.slice(0, 6)}${step.method.length}`,
    'From: "Alice" <sip:alice@example.com>;tag=1928301774',
    'To: <sip:bob@example.com>' + (step.status && step.status > 100 ? ';tag=a6c85cf' : ''),
    `Call-ID: ${callId}`,
    `CSeq: ${step.method === 'BYE' ? 2 : 1} ${step.method}`,
    'Content-Length: 0',
  ];
  return lines.join('\r\n') + '\r\n\r\n';
}

/** Messages of a call; frame numbers count from firstFrame, every other frame (as if interleaved). */
function messages(callId: string, steps: Step[], firstFrame: number): LadderMessage[] {
  return steps.map((s, index) => ({
    index,
    frame: firstFrame + index * 2,
    time: s.at,
    ts: T0 + s.at,
    from: s.from,
    to: s.to,
    transport: 'UDP',
    kind: s.status === undefined ? 'request' : 'response',
    method: s.method,
    status: s.status,
    label: s.status === undefined ? s.method : `${s.status} ${s.reason ?? ''}`.trimEnd(),
    sdp: s.sdp,
    raw: sipText(s, callId),
    retransmission: s.retransmission,
  }));
}

const ALICE = '10.0.0.1:5060';
const PROXY = '10.0.0.2:5060';
const BOB = '10.0.0.3:5060';

/** Alice calls Bob through a proxy; Bob answers, media flows both ways, Alice hangs up. */
export function proxiedCall(): LadderCall {
  const callId = 'a84b4c76e66710@pc33.example.com';
  return {
    callId,
    from: 'alice@example.com',
    to: 'bob@example.com',
    fromDisplay: 'Alice',
    firstMethod: 'INVITE',
    start: T0,
    duration: 12.5,
    state: 'completed',
    finalStatus: 200,
    finalReason: 'OK',
    hungUpBy: 'caller',
    hosts: [
      { id: ALICE, label: `${ALICE} (Linphone/5.2)`, userAgent: 'Linphone/5.2' },
      { id: PROXY, label: `${PROXY} (Kamailio 5.7)`, userAgent: 'Kamailio 5.7' },
      { id: BOB, label: BOB },
    ],
    messages: messages(
      callId,
      [
        {
          at: 0,
          from: ALICE,
          to: PROXY,
          method: 'INVITE',
          sdp: 'SDP PCMU,telephone-event 10.0.0.1:4000',
        },
        { at: 0.004, from: PROXY, to: ALICE, method: 'INVITE', status: 100, reason: 'Trying' },
        {
          at: 0.006,
          from: PROXY,
          to: BOB,
          method: 'INVITE',
          sdp: 'SDP PCMU,telephone-event 10.0.0.1:4000',
        },
        { at: 0.02, from: BOB, to: PROXY, method: 'INVITE', status: 180, reason: 'Ringing' },
        { at: 0.022, from: PROXY, to: ALICE, method: 'INVITE', status: 180, reason: 'Ringing' },
        {
          at: 2.5,
          from: BOB,
          to: PROXY,
          method: 'INVITE',
          status: 200,
          reason: 'OK',
          sdp: 'SDP PCMU 10.0.0.3:5000',
        },
        {
          at: 2.502,
          from: PROXY,
          to: ALICE,
          method: 'INVITE',
          status: 200,
          reason: 'OK',
          sdp: 'SDP PCMU 10.0.0.3:5000',
        },
        { at: 2.51, from: ALICE, to: BOB, method: 'ACK' },
        { at: 12.49, from: ALICE, to: BOB, method: 'BYE' },
        { at: 12.5, from: BOB, to: ALICE, method: 'BYE', status: 200, reason: 'OK' },
      ],
      1,
    ),
    rtp: [
      {
        ssrc: '0x1234abcd',
        src: '10.0.0.1:4000',
        dst: '10.0.0.3:5000',
        payloadType: 0,
        codec: 'PCMU',
        packets: 499,
        lost: 0,
        start: T0 + 2.52,
        end: T0 + 12.48,
        maxDeltaMs: 21.3,
        maxJitterMs: 0.4,
        meanJitterMs: 0.2,
        mos: 4.4,
        audioId: 'stream-1234abcd',
      },
      {
        ssrc: '0x9876fedc',
        src: '10.0.0.3:5000',
        dst: '10.0.0.1:4000',
        payloadType: 0,
        codec: 'PCMU',
        packets: 495,
        lost: 3,
        start: T0 + 2.53,
        end: T0 + 12.47,
        maxDeltaMs: 60.2,
        maxJitterMs: 3.1,
        meanJitterMs: 1.2,
        mos: 4.1,
        dtmf: '12#',
      },
    ],
    audioId: 'call-a84b4c76',
  };
}

/** Alice calls Bob directly; the INVITE is retransmitted once and Bob answers 486 Busy Here. */
export function rejectedCall(): LadderCall {
  const callId = '3848276298220188511@atlanta.example.com';
  return {
    callId,
    from: 'alice@atlanta.example.com',
    to: 'bob@biloxi.example.com',
    firstMethod: 'INVITE',
    start: T0 + 30,
    duration: 0.61,
    state: 'rejected',
    finalStatus: 486,
    finalReason: 'Busy Here',
    hosts: [
      { id: ALICE, label: ALICE },
      { id: BOB, label: BOB },
    ],
    messages: messages(
      callId,
      [
        { at: 0, from: ALICE, to: BOB, method: 'INVITE', sdp: 'SDP PCMA 10.0.0.1:4002' },
        {
          at: 0.5,
          from: ALICE,
          to: BOB,
          method: 'INVITE',
          sdp: 'SDP PCMA 10.0.0.1:4002',
          retransmission: true,
        },
        { at: 0.6, from: BOB, to: ALICE, method: 'INVITE', status: 486, reason: 'Busy Here' },
        { at: 0.61, from: ALICE, to: BOB, method: 'ACK' },
      ],
      21,
    ),
    rtp: [],
  };
}

/** A report of both calls, one unmapped stream and (when given) audio clips by id. */
export function exampleReport(audio?: Record<string, string>): Report {
  return {
    title: 'Example capture',
    source: 'example.pcap',
    calls: [proxiedCall(), rejectedCall()],
    rtpStreams: [
      {
        ssrc: '0x0badcafe',
        src: '192.0.2.9:7078',
        dst: '10.0.0.1:4010',
        payloadType: 8,
        codec: 'PCMA',
        packets: 120,
        lost: 12,
        start: T0 + 40,
        end: T0 + 42.4,
        maxDeltaMs: 180,
        maxJitterMs: 22.5,
        meanJitterMs: 9.1,
        mos: 3.2,
        audioId: 'stream-0badcafe',
      },
    ],
    stats: {
      byMethod: { INVITE: 4, ACK: 2, BYE: 1 },
      byClass: { '1xx': 3, '2xx': 3, '3xx': 0, '4xx': 1, '5xx': 0, '6xx': 0 },
      byCode: { '100': 1, '180': 2, '200': 3, '486': 1 },
    },
    findings: [
      {
        kind: 'retransmission',
        severity: 'low',
        text: 'INVITE retransmitted once (500 ms)',
        frames: [23],
      },
      {
        kind: 'rtp-loss',
        severity: 'medium',
        text: 'RTP 0x0badcafe lost 9.1% of packets',
        frames: [],
      },
    ],
    audio,
  };
}
