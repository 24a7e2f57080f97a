// The columns of a ladder: one per host of the call, in the order the model gives, plus any host
// that a message names but the host list forgot (so no arrow is ever dropped).
import type { LadderCall, LadderHost, LadderRtpStream } from './model.ts';
import { missingPackets } from './model.ts';

export interface Column {
  host: LadderHost;
  /** 0-based position from the left. */
  index: number;
}

export function ladderColumns(call: LadderCall): Column[] {
  const hosts: LadderHost[] = [];
  const seen = new Set<string>();
  const add = (h: LadderHost): void => {
    if (seen.has(h.id)) return;
    seen.add(h.id);
    hosts.push(h);
  };
  for (const h of call.hosts) add(h);
  for (const m of call.messages) {
    add({ id: m.from, label: m.from });
    add({ id: m.to, label: m.to });
  }
  return hosts.map((host, index) => ({ host, index }));
}

/** The address part of 'addr:port' or '[v6]:port' (brackets dropped). */
export function hostAddress(id: string): string {
  if (id.startsWith('[')) {
    const close = id.indexOf(']');
    return close > 0 ? id.slice(1, close) : id;
  }
  const colon = id.lastIndexOf(':');
  // More than one colon without brackets: a bare IPv6 address with no port.
  if (colon < 0 || id.indexOf(':') !== colon) return id;
  return id.slice(0, colon);
}

/**
 * The columns an RTP stream runs between, matched by address (RTP ports differ from SIP ports):
 * the first column whose host address equals the stream's source, and likewise for the
 * destination. Undefined when either end is not a host of the call or both ends map to one column.
 */
export function rtpColumns(
  columns: Column[],
  stream: LadderRtpStream,
): { from: number; to: number } | undefined {
  const find = (endpoint: string): number | undefined => {
    const exact = columns.find((c) => c.host.id === endpoint);
    if (exact) return exact.index;
    const address = hostAddress(endpoint);
    return columns.find((c) => hostAddress(c.host.id) === address)?.index;
  };
  const from = find(stream.src);
  const to = find(stream.dst);
  if (from === undefined || to === undefined || from === to) return undefined;
  return { from, to };
}

/** The one-line summary of an RTP stream used by every renderer. */
export function rtpSummary(s: LadderRtpStream): string {
  const missing = missingPackets(s);
  const received = s.packets - (s.duplicates ?? 0);
  let lost =
    missing > 0 && received + missing > 0
      ? `${missing} lost (${((100 * missing) / (received + missing)).toFixed(1)}%)`
      : `${missing} lost`;
  if (s.duplicates) lost += `, ${s.duplicates} duplicated`;
  let text =
    `RTP ${s.codec} ${s.ssrc} ${s.src} → ${s.dst}, ${s.packets} pkts, ${lost}, ` +
    `jitter ${s.maxJitterMs.toFixed(1)}/${s.meanJitterMs.toFixed(1)} ms`;
  if (s.mos !== undefined) text += `, MOS ${s.mos.toFixed(1)}`;
  if (s.dtmf) text += `, DTMF ${s.dtmf}`;
  return text;
}

/** A message's time or a stream's start as seconds from the call start, for the time column. */
export function formatSeconds(seconds: number): string {
  return (Number.isFinite(seconds) ? seconds : 0).toFixed(3);
}
