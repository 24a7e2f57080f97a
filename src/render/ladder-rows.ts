// The rows of a ladder from top to bottom: every message in call order, with each RTP stream that
// runs between two hosts of the call placed where it started (before the first message sent after
// its first packet). Streams that do not run between two columns are left for the summary.
import type { LadderCall, LadderMessage, LadderRtpStream } from './model.ts';
import { type Column, rtpColumns } from './host-columns.ts';

export type LadderRow =
  | { kind: 'message'; message: LadderMessage; time: number }
  | { kind: 'rtp'; stream: LadderRtpStream; from: number; to: number; time: number };

export function ladderRows(call: LadderCall, columns: Column[]): LadderRow[] {
  const messages = [...call.messages].sort((a, b) => a.index - b.index);
  const streams = call.rtp
    .map((stream) => ({
      stream,
      ends: rtpColumns(columns, stream),
      time: stream.start - call.start,
    }))
    .filter((s) => s.ends !== undefined)
    .sort((a, b) => a.time - b.time);
  const rows: LadderRow[] = [];
  let next = 0;
  for (const message of messages) {
    while (next < streams.length && streams[next]!.time < message.time) {
      const s = streams[next++]!;
      rows.push({
        kind: 'rtp',
        stream: s.stream,
        from: s.ends!.from,
        to: s.ends!.to,
        time: s.time,
      });
    }
    rows.push({ kind: 'message', message, time: message.time });
  }
  for (const s of streams.slice(next)) {
    rows.push({ kind: 'rtp', stream: s.stream, from: s.ends!.from, to: s.ends!.to, time: s.time });
  }
  return rows;
}

/** One RFC 4733 digit of a stream that runs between two columns, at the time it completed. */
export interface DtmfRow {
  digit: string;
  from: number;
  to: number;
  time: number;
}

/** The RFC 4733 digits of the call's streams, in time order (for renderers that show them). */
export function dtmfRows(call: LadderCall, columns: Column[]): DtmfRow[] {
  const rows: DtmfRow[] = [];
  for (const stream of call.rtp) {
    const ends = rtpColumns(columns, stream);
    if (!ends) continue;
    for (const e of stream.dtmfEvents ?? []) {
      rows.push({ digit: e.digit, from: ends.from, to: ends.to, time: e.ts - call.start });
    }
  }
  return rows.sort((a, b) => a.time - b.time);
}

/** How renderers mark a message read in spite of breaking the grammar. */
export const MALFORMED_MARK = '!';

/** The arrow text of a message: its label, or the status code / method when the label is empty. */
export function arrowLabel(m: LadderMessage): string {
  const label =
    m.label || (m.kind === 'response' && m.status !== undefined ? String(m.status) : m.method);
  return m.malformed !== undefined ? `${MALFORMED_MARK}${label}` : label;
}
