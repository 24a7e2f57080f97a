// The rows of the live call list: one per call, cached per call and rebuilt only when the call
// got new messages or streams (the list is redrawn several times a second over thousands of calls).
import { callOutcome } from '../analyze/index.ts';
import type { CallRecord, LiveAnalysis } from '../analyze/index.ts';

export interface CallRow {
  callId: string;
  start: number;
  method: string;
  from: string;
  to: string;
  state: string;
  messages: number;
  codec: string;
  duration: number;
  /** Lower-case text the filter searches. */
  haystack: string;
}

interface Cached {
  messages: number;
  codec: string;
  row: CallRow;
}

export class CallRows {
  private readonly cache = new WeakMap<CallRecord, Cached>();

  /** Rows of the calls kept, oldest first; OPTIONS hidden when asked, filtered by text. */
  rows(live: LiveAnalysis, options: { hideOptions: boolean; filter: string }): CallRow[] {
    const codecs = new Map<string, Set<string>>();
    for (const s of live.analysis.rtp.streams) {
      if (s.callId === null) continue;
      const name = s.formatOf(s.firstPayloadType)?.name ?? `PT${s.firstPayloadType}`;
      let set = codecs.get(s.callId);
      if (!set) codecs.set(s.callId, (set = new Set()));
      set.add(name);
    }
    const needle = options.filter.toLowerCase();
    const out: CallRow[] = [];
    for (const record of live.calls()) {
      if (options.hideOptions && record.firstMethod === 'OPTIONS') continue;
      const codec = [...(codecs.get(record.callId) ?? [])].join(',');
      let cached = this.cache.get(record);
      if (!cached || cached.messages !== record.messages.length || cached.codec !== codec) {
        cached = { messages: record.messages.length, codec, row: rowOf(record, codec) };
        this.cache.set(record, cached);
      }
      if (needle && !cached.row.haystack.includes(needle)) continue;
      out.push(cached.row);
    }
    return out;
  }
}

function rowOf(record: CallRecord, codec: string): CallRow {
  const msgs = record.messages;
  const start = msgs.length ? msgs[0].ts : 0;
  const end = msgs.length ? msgs[msgs.length - 1].ts : 0;
  const outcome = callOutcome(record);
  const state = outcome.finalStatus ? `${outcome.state} ${outcome.finalStatus}` : outcome.state;
  return {
    callId: record.callId,
    start,
    method: record.firstMethod,
    from: record.from,
    to: record.to,
    state,
    messages: msgs.length,
    codec,
    duration: end - start,
    haystack:
      `${record.callId} ${record.from} ${record.to} ${record.firstMethod} ${state} ${codec}`.toLowerCase(),
  };
}
