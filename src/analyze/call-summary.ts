// Turns a call's message records into what a call list and a ladder show (src/render/model.ts):
// state and final status, who hung up, the hosts as ladder columns, one arrow per message.
//
// State rules (as Wireshark's VoIP Calls reads them):
//   INVITE calls: a 2xx to an INVITE sent outside a dialog means the call was answered; then a BYE
//   makes it 'completed', no BYE 'in-progress'. Unanswered: the last final response to the
//   highest-CSeq initial INVITE decides: 487 (or any CANCEL seen) is 'cancelled', 3xx-6xx
//   'rejected' with that code; no final response is 'cancelled' when a CANCEL was sent, else
//   'in-progress'.
//   Other first methods (REGISTER, OPTIONS, SUBSCRIBE, MESSAGE...): the last final response to the
//   highest CSeq of that method: 2xx 'completed', 3xx-6xx 'rejected', none 'in-progress'
//   (a call seen from its CANCEL on, the INVITE missed, is 'cancelled').
import type { LadderCall, LadderHost, LadderMessage, CallState } from '../render/model.ts';
import type { CallRecord, SipMessageRecord } from './call-tracker.ts';

const STATUS_REQUEST_TERMINATED = 487;

interface Outcome {
  state: CallState;
  finalStatus?: number;
  finalReason?: string;
  hungUpBy?: 'caller' | 'callee';
}

/** Where a call stands after its messages. */
export function callOutcome(call: CallRecord): Outcome {
  const msgs = call.messages;
  if (call.firstMethod === 'INVITE') {
    const initialInvites = new Set<number>();
    for (const m of msgs) {
      if (m.kind === 'request' && m.method === 'INVITE' && !m.toTag) initialInvites.add(m.cseq);
    }
    // With a capture that starts mid-call there may be no initial INVITE at all: then any INVITE
    // transaction counts.
    const isInitial = (m: SipMessageRecord): boolean =>
      initialInvites.size === 0 || initialInvites.has(m.cseq);
    const answer = msgs.find(
      (m) =>
        m.kind === 'response' &&
        m.method === 'INVITE' &&
        m.status! >= 200 &&
        m.status! < 300 &&
        isInitial(m),
    );
    if (answer) {
      const bye = msgs.find((m) => m.kind === 'request' && m.method === 'BYE');
      const outcome: Outcome = {
        state: bye ? 'completed' : 'in-progress',
        finalStatus: answer.status,
        finalReason: answer.reason,
      };
      if (bye && call.callerTag !== undefined) {
        outcome.hungUpBy = bye.fromTag === call.callerTag ? 'caller' : 'callee';
      }
      return outcome;
    }
    const cancelled = msgs.some((m) => m.kind === 'request' && m.method === 'CANCEL');
    const highest = Math.max(
      ...msgs.filter((m) => m.method === 'INVITE' && isInitial(m)).map((m) => m.cseq),
    );
    const final = lastFinal(msgs, 'INVITE', highest);
    if (!final) return { state: cancelled ? 'cancelled' : 'in-progress' };
    const state: CallState =
      final.status === STATUS_REQUEST_TERMINATED || cancelled ? 'cancelled' : 'rejected';
    return { state, finalStatus: final.status, finalReason: final.reason };
  }
  // A capture that starts with the CANCEL of an INVITE it missed.
  if (call.firstMethod === 'CANCEL') return { state: 'cancelled' };
  const highest = Math.max(...msgs.filter((m) => m.method === call.firstMethod).map((m) => m.cseq));
  const final = lastFinal(msgs, call.firstMethod, highest);
  if (!final) return { state: 'in-progress' };
  return {
    state: final.status! < 300 ? 'completed' : 'rejected',
    finalStatus: final.status,
    finalReason: final.reason,
  };
}

function lastFinal(
  msgs: SipMessageRecord[],
  method: string,
  cseq: number,
): SipMessageRecord | undefined {
  let found: SipMessageRecord | undefined;
  for (const m of msgs) {
    if (m.kind === 'response' && m.method === method && m.cseq === cseq && m.status! >= 200) {
      found = m;
    }
  }
  return found;
}

/** The ladder model of a call (without RTP streams, which the caller attaches). */
export function ladderCall(call: CallRecord): LadderCall {
  const msgs = call.messages;
  const start = msgs.length ? msgs[0].ts : 0;
  const end = msgs.length ? msgs[msgs.length - 1].ts : 0;
  const outcome = callOutcome(call);
  return {
    callId: call.callId,
    from: call.from,
    to: call.to,
    ...(call.fromDisplay ? { fromDisplay: call.fromDisplay } : {}),
    ...(call.toDisplay ? { toDisplay: call.toDisplay } : {}),
    firstMethod: call.firstMethod,
    start,
    duration: end - start,
    state: outcome.state,
    ...(outcome.finalStatus !== undefined ? { finalStatus: outcome.finalStatus } : {}),
    ...(outcome.finalReason !== undefined ? { finalReason: outcome.finalReason } : {}),
    ...(outcome.hungUpBy ? { hungUpBy: outcome.hungUpBy } : {}),
    hosts: ladderHosts(msgs),
    messages: msgs.map((m, index) => ladderMessage(m, index, start)),
    rtp: [],
  };
}

/** Columns in order of first appearance; each labelled with its User-Agent/Server when known. */
export function ladderHosts(msgs: SipMessageRecord[]): LadderHost[] {
  const hosts = new Map<string, LadderHost>();
  for (const m of msgs) {
    for (const id of [m.from, m.to]) {
      if (!hosts.has(id)) hosts.set(id, { id, label: id });
    }
    const sender = hosts.get(m.from)!;
    if (m.agent && !sender.userAgent) {
      sender.userAgent = m.agent;
      sender.label = `${m.from} (${m.agent})`;
    }
  }
  return [...hosts.values()];
}

function ladderMessage(m: SipMessageRecord, index: number, start: number): LadderMessage {
  const label =
    m.kind === 'request' ? m.method : m.reason ? `${m.status} ${m.reason}` : String(m.status);
  const out: LadderMessage = {
    index,
    time: m.ts - start,
    ts: m.ts,
    from: m.from,
    to: m.to,
    transport: m.transport,
    kind: m.kind,
    method: m.method,
    label,
    raw: m.raw ? m.raw.toString('utf8') : '',
  };
  if (m.frame !== undefined) out.frame = m.frame;
  if (m.status !== undefined) out.status = m.status;
  if (m.sdp) out.sdp = m.sdp;
  if (m.retransmission) out.retransmission = true;
  if (m.malformed !== undefined) out.malformed = m.malformed;
  if (m.dtmf) out.dtmf = m.dtmf;
  return out;
}
