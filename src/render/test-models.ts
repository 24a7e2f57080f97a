// Small builders of call models for the renderers' tests: a call between any hosts from a list of
// (from, to, label) steps, with hostile or long strings wherever a test wants them.
import type { LadderCall, LadderMessage } from './model.ts';

export interface StepSpec {
  from: string;
  to: string;
  /** 'INVITE' for a request, '200 OK' for a response (status read from the leading number). */
  label: string;
  sdp?: string;
  retransmission?: boolean;
  raw?: string;
}

export function callOf(
  hosts: string[],
  steps: StepSpec[],
  extra: Partial<LadderCall> = {},
): LadderCall {
  const messages: LadderMessage[] = steps.map((s, index) => {
    const code = /^(\d{3})\b/.exec(s.label);
    const status = code ? Number(code[1]) : undefined;
    return {
      index,
      frame: index + 1,
      time: index * 0.25,
      ts: 1_700_000_000 + index * 0.25,
      from: s.from,
      to: s.to,
      transport: 'UDP',
      kind: status === undefined ? 'request' : 'response',
      method: status === undefined ? s.label.split(' ')[0]! : 'INVITE',
      status,
      label: s.label,
      sdp: s.sdp,
      raw:
        s.raw ??
        `${status === undefined ? `${s.label} sip:x@y SIP/2.0` : `SIP/2.0 ${s.label}`}\r\nCall-ID: c${index}\r\n\r\n`,
      retransmission: s.retransmission,
    };
  });
  return {
    callId: 'test-call@example.com',
    from: 'alice@example.com',
    to: 'bob@example.com',
    firstMethod: 'INVITE',
    start: 1_700_000_000,
    duration: steps.length * 0.25,
    state: 'completed',
    hosts: hosts.map((id) => ({ id, label: id })),
    messages,
    rtp: [],
    ...extra,
  };
}
