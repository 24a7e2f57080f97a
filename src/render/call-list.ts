// The text table of calls, like Wireshark's Telephony › VoIP Calls: one row per call with its
// start, duration, parties, first method, state, final status, who hung up, message count (with
// how many broke the SIP grammar: '6 (2!)'), DTMF digits (when any call has some) and Call-ID.
import type { CallState, LadderCall } from './model.ts';
import { terminalSafe } from './escape.ts';
import { fit, stylePainter, textWidth, type TextStyle } from './text-canvas.ts';

export interface CallListOptions {
  color?: boolean;
  /** Terminal width the table should fit in. Default 120. */
  width?: number;
  /** Never truncate (From, To and Call-ID whole, whatever the width). */
  wide?: boolean;
}

const DEFAULT_WIDTH = 120;
const MIN_PARTY = 10;
const MAX_PARTY = 40;
const MIN_CALL_ID = 10;

interface ColumnSpec {
  title: string;
  align: 'left' | 'right';
  cell: (c: LadderCall, i: number) => string;
  style?: (c: LadderCall) => TextStyle;
  /** From, To and Call-ID: truncated to fit the width (the last one first). */
  flex?: boolean;
}

export function renderCallList(calls: LadderCall[], opts: CallListOptions = {}): string {
  const color = opts.color ?? false;
  const width = opts.width ?? DEFAULT_WIDTH;
  const paint = stylePainter(color);
  if (calls.length === 0) return 'No calls.\n';
  const sameDay =
    new Set(calls.map((c) => new Date(c.start * 1000).toISOString().slice(0, 10))).size === 1;

  const specs: ColumnSpec[] = [
    { title: '#', align: 'right', cell: (_c, i) => String(i + 1) },
    { title: 'Start', align: 'left', cell: (c) => clock(c.start, sameDay) },
    { title: 'Duration', align: 'right', cell: (c) => `${c.duration.toFixed(1)} s` },
    { title: 'From', align: 'left', cell: (c) => party(c.fromDisplay, c.from), flex: true },
    { title: 'To', align: 'left', cell: (c) => party(c.toDisplay, c.to), flex: true },
    { title: 'Method', align: 'left', cell: (c) => c.firstMethod },
    { title: 'State', align: 'left', cell: (c) => c.state, style: (c) => stateStyle(c.state) },
    {
      title: 'Status',
      align: 'left',
      cell: (c) =>
        c.finalStatus === undefined ? '-' : `${c.finalStatus} ${c.finalReason ?? ''}`.trim(),
      style: (c) => statusStyle(c.finalStatus),
    },
    { title: 'Hung up', align: 'left', cell: (c) => c.hungUpBy ?? '-' },
    { title: 'Msgs', align: 'right', cell: (c) => msgs(c) },
    { title: 'Call-ID', align: 'left', cell: (c) => c.callId, flex: true },
  ];
  // DTMF (SIP INFO and RFC 4733) when any call has digits.
  if (calls.some((c) => c.dtmf)) {
    specs.splice(specs.length - 1, 0, { title: 'DTMF', align: 'left', cell: (c) => c.dtmf ?? '' });
  }

  const cells = calls.map((c, i) => specs.map((s) => terminalSafe(s.cell(c, i))));
  const natural = specs.map((s, k) =>
    Math.max(textWidth(s.title), ...cells.map((row) => textWidth(row[k]!))),
  );
  // Fixed columns are as wide as their content. From and To share what is left (the Call-ID
  // keeps at least MIN_CALL_ID), then the Call-ID takes the rest.
  const flexible = (k: number): boolean => specs[k]!.flex === true;
  const fixed = natural.reduce((sum, w, k) => sum + (flexible(k) ? 2 : w + 2), 0);
  const partyRoom = Math.max(
    MIN_PARTY,
    Math.min(MAX_PARTY, Math.floor((width - fixed - MIN_CALL_ID) / 2)),
  );
  const widths = natural.map((w, k) =>
    flexible(k) && k !== specs.length - 1 && !opts.wide ? Math.min(w, partyRoom) : w,
  );
  const used = widths.reduce((sum, w, k) => sum + (k === specs.length - 1 ? 0 : w + 2), 0);
  if (!opts.wide) {
    widths[specs.length - 1] = Math.min(
      natural[specs.length - 1]!,
      Math.max(MIN_CALL_ID, width - used),
    );
  }

  const pad = (text: string, k: number): string => {
    const shown = fit(text, widths[k]!);
    const room = ' '.repeat(widths[k]! - textWidth(shown));
    return specs[k]!.align === 'right' ? room + shown : shown + room;
  };
  const lines = [
    paint(
      'bold',
      specs
        .map((_s, k) => pad(specs[k]!.title, k))
        .join('  ')
        .trimEnd(),
    ),
  ];
  cells.forEach((row, i) => {
    const call = calls[i]!;
    const text = row.map((cell, k) => {
      const style = specs[k]!.style?.(call) ?? 'plain';
      return paint(style, pad(cell, k));
    });
    lines.push(text.join('  ').trimEnd());
  });
  return lines.join('\n') + '\n';
}

/** The message count, with how many were malformed ('12 (1!)'). */
function msgs(c: LadderCall): string {
  const bad = c.messages.filter((m) => m.malformed !== undefined).length;
  return bad > 0 ? `${c.messages.length} (${bad}!)` : String(c.messages.length);
}

function party(display: string | undefined, aor: string): string {
  return display ? `${display} <${aor}>` : aor;
}

/** Time of day in UTC, with the date when the calls span more than one day. */
function clock(epochSeconds: number, sameDay: boolean): string {
  const iso = new Date(epochSeconds * 1000).toISOString();
  return sameDay ? iso.slice(11, 19) : `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

function stateStyle(state: CallState): TextStyle {
  switch (state) {
    case 'completed':
      return '2xx';
    case 'in-progress':
      return '1xx';
    case 'cancelled':
      return 'dim';
    default:
      return '4xx';
  }
}

function statusStyle(status: number | undefined): TextStyle {
  if (status === undefined) return 'dim';
  if (status < 200) return '1xx';
  if (status < 300) return '2xx';
  if (status < 400) return '3xx';
  return '4xx';
}
