// The terminal ladder: one column per host, one line per arrow, time on the left, notes (SDP,
// retransmissions, labels too long for their arrow) on the right. Every arrow sits on its own
// line with its label, so a script can read the order of messages back from the text.
//
//            10.0.0.1:5060          10.0.0.2:5060
//            Linphone/5.2           Asterisk 20
//                  │                      │
//   0.000          │─────── INVITE ──────▶│  SDP PCMU 10.0.0.1:4000
//   0.012          │◀──── 100 Trying ─────│
//   1.502          │═════ RTP PCMU ══════▶│  0x1234abcd 425 pkts, 0 lost
//   3.120          │┈┈┈┈┈┈ DTMF 5 ┈┈┈┈┈┈┈▶│  RFC 4733
//   4.004          │──────── !INFO ──────▶│  DTMF 7 (SIP INFO)  malformed: Invalid From: ...
//
// A message the strict parser refused (read tolerantly by the analyzer) is marked '!' before its
// label and its deviation is the last note on its line; RFC 4733 digits get a dotted arrow of
// their own at the time each completed.
import type { LadderCall } from './model.ts';
import { missingPackets } from './model.ts';
import {
  ladderColumns,
  formatSeconds,
  rtpSummary,
  hostAddress,
  type Column,
} from './host-columns.ts';
import { ladderRows, arrowLabel, dtmfRows, type LadderRow } from './ladder-rows.ts';
import { messageClass } from './message-class.ts';
import { terminalSafe } from './escape.ts';
import { TextLine, fit, fitEnd, textWidth, stylePainter, type TextStyle } from './text-canvas.ts';

export interface TextOptions {
  /** ANSI colours by status class (pass process.stdout.isTTY). Default false. */
  color?: boolean;
  /** Terminal width the ladder should fit in. Default 100. */
  width?: number;
}

const DEFAULT_WIDTH = 100;
/** Column spacing bounds: below MIN_GAP labels get truncated; never narrower than HARD_MIN_GAP. */
const MIN_GAP = 14;
const MAX_GAP = 40;
const HARD_MIN_GAP = 8;
/** Cells an arrow needs beyond its label: a dash and a space on each side, and the head. */
const ARROW_EXTRA = 5;

export function renderText(call: LadderCall, opts: TextOptions = {}): string {
  const color = opts.color ?? false;
  const width = Math.max(20, opts.width ?? DEFAULT_WIDTH);
  const paint = stylePainter(color);
  const out: string[] = [paint('bold', terminalSafe(callTitle(call)))];

  const columns = ladderColumns(call);
  if (columns.length === 0) {
    out.push('  (no messages)');
    return out.join('\n') + '\n';
  }
  const rows: Array<LadderRow | DigitRow> = ladderRows(call, columns);
  // RFC 4733 digits go between the rows, each before the first row that comes after it.
  for (const d of dtmfRows(call, columns)) {
    let at = rows.findIndex((r) => r.time > d.time);
    if (at < 0) at = rows.length;
    rows.splice(at, 0, { kind: 'dtmf', ...d });
  }
  const timeWidth = Math.max(7, ...rows.map((r) => formatSeconds(r.time).length));
  const left = timeWidth + 2;
  const gap = columnGap(columns, rows, left, width);
  const center = (i: number): number => left + Math.floor(gap / 2) + i * gap;
  const centers = columns.map((c) => center(c.index));
  const lastCenter = center(columns.length - 1);
  const notesAt = lastCenter + 3;

  for (const line of headerLines(columns, center, gap)) out.push(line.toString(color));
  out.push(lifelines(columns, center).toString(color));

  for (const row of rows) {
    const line = lifelines(columns, center);
    line.put(0, formatSeconds(row.time).padStart(timeWidth), 'dim');
    const notes: Array<[string, TextStyle]> = [];
    if (row.kind === 'message') {
      const m = row.message;
      const style = messageClass(m);
      const label = terminalSafe(arrowLabel(m));
      const from = columns.find((c) => c.host.id === m.from)!.index;
      const to = columns.find((c) => c.host.id === m.to)!.index;
      const shaft = m.retransmission ? '╌' : '─';
      const shown = drawArrow(line, center(from), center(to), label, style, shaft, centers);
      if (shown !== label) notes.push([label, style]);
      if (m.sdp) notes.push([terminalSafe(m.sdp), 'dim']);
      if (m.dtmf) notes.push([terminalSafe(`DTMF ${m.dtmf} (SIP INFO)`), 'rtp']);
      if (m.retransmission) notes.push(['(retransmission)', 'dim']);
      if (m.malformed !== undefined) {
        notes.push([terminalSafe(`malformed: ${m.malformed}`), '4xx']);
      }
    } else if (row.kind === 'dtmf') {
      drawArrow(line, center(row.from), center(row.to), `DTMF ${row.digit}`, 'rtp', '┈', centers);
      notes.push(['RFC 4733', 'dim']);
    } else {
      const s = row.stream;
      const label = terminalSafe(`RTP ${s.codec}`);
      drawArrow(line, center(row.from), center(row.to), label, 'rtp', '═', centers);
      const dup = s.duplicates ? `, ${s.duplicates} dup` : '';
      notes.push([
        terminalSafe(`${s.ssrc} ${s.packets} pkts, ${missingPackets(s)} lost${dup}`),
        'dim',
      ]);
    }
    let at = notesAt;
    for (const [text, style] of notes) {
      line.put(at, text, style);
      at += textWidth(text) + 2;
    }
    out.push(line.toString(color));
  }
  out.push(lifelines(columns, center).toString(color));

  if (call.rtp.length > 0) {
    out.push('');
    for (const s of call.rtp) out.push(paint('rtp', terminalSafe(rtpSummary(s))));
  }
  return out.join('\n') + '\n';
}

/** An RFC 4733 digit drawn as an arrow of its own. */
interface DigitRow {
  kind: 'dtmf';
  digit: string;
  from: number;
  to: number;
  time: number;
}

function callTitle(call: LadderCall): string {
  const final =
    call.finalStatus !== undefined
      ? ` ${call.finalStatus}${call.finalReason ? ' ' + call.finalReason : ''}`
      : '';
  const who = (display: string | undefined, aor: string): string =>
    display ? `"${display}" ${aor}` : aor;
  return (
    `Call ${call.callId}  ${who(call.fromDisplay, call.from)} → ${who(call.toDisplay, call.to)}  ` +
    `${call.firstMethod}, ${call.state}${final}, ${call.duration.toFixed(3)} s` +
    (call.dtmf ? `, DTMF ${call.dtmf}` : '')
  );
}

/** The header lines of a column: its address, then its user agent (or a distinct label). */
function headerText(c: Column): [string, string] {
  const h = c.host;
  const second = h.userAgent ?? (h.label !== h.id ? h.label : '');
  return [terminalSafe(h.id), terminalSafe(second)];
}

/**
 * Spacing between column centres: wide enough for the labels of arrows between neighbours and
 * for the headers, within MIN_GAP..MAX_GAP, then narrowed (down to HARD_MIN_GAP) to fit the width.
 */
function columnGap(
  columns: Column[],
  rows: Array<LadderRow | DigitRow>,
  left: number,
  width: number,
): number {
  let want = 0;
  for (const c of columns) for (const t of headerText(c)) want = Math.max(want, textWidth(t) + 2);
  for (const row of rows) {
    let from: number;
    let to: number;
    let label: string;
    if (row.kind === 'message') {
      from = columns.findIndex((c) => c.host.id === row.message.from);
      to = columns.findIndex((c) => c.host.id === row.message.to);
      label = arrowLabel(row.message);
    } else {
      from = row.from;
      to = row.to;
      label = row.kind === 'dtmf' ? `DTMF ${row.digit}` : `RTP ${row.stream.codec}`;
    }
    const span = Math.abs(to - from);
    if (span > 0) want = Math.max(want, Math.ceil((textWidth(label) + ARROW_EXTRA) / span) + 1);
  }
  let gap = Math.min(MAX_GAP, Math.max(MIN_GAP, want));
  const fitting = Math.floor((width - left) / columns.length);
  if (gap > fitting) gap = Math.max(HARD_MIN_GAP, fitting);
  return gap;
}

function headerLines(columns: Column[], center: (i: number) => number, gap: number): TextLine[] {
  const lines: TextLine[] = [];
  for (const c of columns) {
    const [id, second] = headerText(c);
    const texts: Array<[string, TextStyle]> = [];
    const address = id.slice(0, id.lastIndexOf(':'));
    const port = id.slice(id.lastIndexOf(':'));
    if (textWidth(id) > gap - 1 && hostAddress(c.host.id) !== c.host.id && port.length > 1) {
      // Too narrow for 'address:port': the port goes on a line of its own, never cut off, and
      // the address keeps its end (where addresses of one network differ).
      texts.push([fitEnd(address, gap - 1), 'bold'], [port, 'bold']);
    } else {
      texts.push([id, 'bold']);
    }
    if (second) texts.push([second, 'dim']);
    texts.forEach(([text, style], i) => {
      const shown = fit(text, gap - 1);
      while (lines.length <= i) lines.push(new TextLine());
      lines[i]!.put(center(c.index) - Math.floor(textWidth(shown) / 2), shown, style);
    });
  }
  return lines;
}

function lifelines(columns: Column[], center: (i: number) => number): TextLine {
  const line = new TextLine();
  for (const c of columns) line.put(center(c.index), '│', 'dim');
  return line;
}

/**
 * Draws an arrow between two column centres and returns the label as shown (truncated with …
 * only when the arrow is too short for it). The label goes on the first stretch of shaft next to
 * the sender where it fits, so the lifelines an arrow crosses (┼) stay visible; when no stretch is
 * long enough it is centred on the whole shaft.
 */
function drawArrow(
  line: TextLine,
  fromX: number,
  toX: number,
  label: string,
  style: TextStyle,
  shaft: string,
  crossed: number[],
): string {
  if (fromX === toX) {
    line.put(fromX, '├' + shaft + '↺ ', style);
    line.put(fromX + 4, label, style);
    return label;
  }
  const lo = Math.min(fromX, toX);
  const hi = Math.max(fromX, toX);
  const rightward = toX > fromX;
  for (let x = lo + 1; x < hi; x++) line.put(x, crossed.includes(x) ? '┼' : shaft, style);
  line.put(rightward ? hi - 1 : lo + 1, rightward ? '▶' : '◀', style);

  // Stretches of shaft between the ends and the crossed lifelines, the head cell left out.
  const stops = [lo, ...crossed.filter((x) => x > lo && x < hi).sort((a, b) => a - b), hi];
  const stretches: Array<[number, number]> = [];
  for (let i = 0; i + 1 < stops.length; i++) {
    let start = stops[i]! + 1;
    let end = stops[i + 1]! - 1;
    if (!rightward && i === 0) start++;
    if (rightward && i === stops.length - 2) end--;
    stretches.push([start, end]);
  }
  if (!rightward) stretches.reverse();
  const width = textWidth(label);
  const fitting = stretches.find(([a, b]) => b - a + 1 - 3 >= width);
  const [a, b] = fitting ?? (rightward ? [lo + 1, hi - 2] : [lo + 2, hi - 1]);
  const length = b - a + 1;
  const shown = width <= length - 3 ? label : fit(label, Math.max(0, length - 3));
  if (shown === '') return shown;
  // Any odd cell of shaft left over goes on the tail side.
  const spare = length - textWidth(shown) - 2;
  line.put(a + (rightward ? Math.ceil(spare / 2) : Math.floor(spare / 2)), ` ${shown} `, style);
  return shown;
}
