// The SVG ladder: a standalone image (no scripts, no external references) with one column per
// host, one row per arrow, the time on the left and RTP streams as double bars where they began.
// Arrows are <g data-testid="arrow" data-index="N"> groups so a page can make them clickable.
import type { LadderCall } from './model.ts';
import { ladderColumns, formatSeconds, rtpSummary, type Column } from './host-columns.ts';
import { ladderRows, arrowLabel } from './ladder-rows.ts';
import { messageClass } from './message-class.ts';
import { escapeXml } from './escape.ts';
import { fit, textWidth } from './text-canvas.ts';

/** Pixel layout, monospace text at FONT_SIZE so widths can be computed. */
const FONT_SIZE = 12;
const CHAR_WIDTH = 7.3;
const PAD = 16;
const TIME_WIDTH = 64;
const HEADER_HEIGHT = 50;
const HEADER_GAP = 18;
const ROW_HEIGHT = 40;
const MIN_GAP = 170;
const MAX_GAP = 320;
const HEAD_LENGTH = 9;
/** Under the ladder: the axis caption, then per stream a summary line over its media bar. */
const FOOTER_TOP = 50;
const STREAM_BLOCK = 34;
const TRACK_HEIGHT = 8;
const SDP_ROOM = 40;

/** The ladder's stylesheet; a page showing many ladders includes it once (see SvgOptions.style). */
export const SVG_LADDER_CSS = `
.tz-ladder{font-family:ui-monospace,'SFMono-Regular','DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:${FONT_SIZE}px}
.tz-bg{fill:#fff}
.tz-host rect{fill:#f1f5f9;stroke:#cbd5e1}
.tz-host-id{font-weight:700;fill:#0f172a}
.tz-host-ua{fill:#64748b;font-size:11px}
.tz-lifeline{stroke:#94a3b8;stroke-dasharray:4 4}
.tz-time{fill:#64748b;font-size:11px}
.tz-sdp{fill:#64748b;font-size:10.5px}
.tz-hit{fill:transparent}
.tz-arrow{cursor:pointer}
.tz-arrow:hover .tz-hit{fill:#e2e8f0;fill-opacity:.6}
.tz-arrow.tz-selected .tz-hit{fill:#fde68a;fill-opacity:.7}
.tz-retransmission line{stroke-dasharray:6 4}
.tz-malformed .tz-label{fill:#c0392b;font-style:italic}
.tz-request{--c:#2563eb}.tz-1xx{--c:#b45309}.tz-2xx{--c:#15803d}.tz-3xx{--c:#0891b2}
.tz-4xx,.tz-5xx,.tz-6xx{--c:#dc2626}.tz-rtp{--c:#7c3aed}
.tz-arrow line,.tz-rtp line{stroke:var(--c);stroke-width:1.6}
.tz-arrow polygon,.tz-rtp polygon{fill:var(--c)}
.tz-label{fill:var(--c);font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}
.tz-sdp,.tz-time{paint-order:stroke;stroke:#fff;stroke-width:3px}
.tz-rtp-summary{fill:#7c3aed;font-size:11px}
.tz-axis{fill:#64748b;font-size:11px;font-weight:600}
.tz-track{fill:#f1f5f9;stroke:#e2e8f0}
.tz-media{fill:#7c3aed;fill-opacity:.75}
.tz-frame{fill:#94a3b8;font-size:9.5px}
.tz-empty{fill:#64748b}
`.trim();

export interface SvgOptions {
  /** Embed the stylesheet (default true). A page holding many ladders sets it once instead. */
  style?: boolean;
}

export function renderSvg(call: LadderCall, opts: SvgOptions = {}): string {
  const columns = ladderColumns(call);
  const rows = ladderRows(call, columns);
  const gap = columnGap(columns, call);
  const x = (i: number): number => PAD + TIME_WIDTH + gap / 2 + i * gap;
  const top = PAD + HEADER_HEIGHT + HEADER_GAP;
  const bodyBottom = top + Math.max(1, rows.length) * ROW_HEIGHT;
  const summaries = call.rtp.map(rtpSummary);
  const width = Math.max(
    PAD * 2 + TIME_WIDTH + gap * Math.max(1, columns.length),
    PAD * 2 + Math.max(0, ...summaries.map((s) => textWidth(s) * CHAR_WIDTH * 0.92)),
  );
  const height =
    bodyBottom +
    PAD +
    (summaries.length > 0 ? FOOTER_TOP - 12 + summaries.length * STREAM_BLOCK : 0);
  const r = (n: number): string => String(Math.round(n * 10) / 10);

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="tz-ladder" width="${r(width)}" height="${r(height)}" ` +
      `viewBox="0 0 ${r(width)} ${r(height)}" role="img" data-testid="ladder" ` +
      `aria-label="${escapeXml(`SIP ladder of call ${call.callId}`)}">`,
    `<title>${escapeXml(`Call ${call.callId}: ${call.from} → ${call.to}`)}</title>`,
    opts.style === false ? '' : `<style>${SVG_LADDER_CSS}</style>`,
    `<rect class="tz-bg" width="${r(width)}" height="${r(height)}"/>`,
  );
  if (columns.length === 0) {
    parts.push(`<text class="tz-empty" x="${PAD}" y="${PAD + 20}">No messages in this call</text>`);
  }

  for (const c of columns) {
    const cx = x(c.index);
    const boxWidth = gap - 20;
    const chars = Math.floor((boxWidth - 12) / CHAR_WIDTH);
    const ua = c.host.userAgent ?? (c.host.label !== c.host.id ? c.host.label : '');
    parts.push(
      `<g class="tz-host" data-testid="host" data-host="${escapeXml(c.host.id)}">`,
      `<title>${escapeXml(hostTitle(c))}</title>`,
      `<rect x="${r(cx - boxWidth / 2)}" y="${PAD}" width="${r(boxWidth)}" height="${HEADER_HEIGHT}" rx="6"/>`,
      `<text class="tz-host-id" x="${r(cx)}" y="${PAD + (ua ? 21 : 30)}" text-anchor="middle">${escapeXml(fit(c.host.id, chars))}</text>`,
      ua
        ? `<text class="tz-host-ua" x="${r(cx)}" y="${PAD + 38}" text-anchor="middle">${escapeXml(fit(ua, chars))}</text>`
        : '',
      `<line class="tz-lifeline" x1="${r(cx)}" y1="${PAD + HEADER_HEIGHT}" x2="${r(cx)}" y2="${r(bodyBottom)}"/>`,
      `</g>`,
    );
  }

  rows.forEach((row, i) => {
    const y = top + i * ROW_HEIGHT + ROW_HEIGHT / 2 + 4;
    const time = `<text class="tz-time" x="${PAD + TIME_WIDTH - 10}" y="${r(y + 4)}" text-anchor="end">${formatSeconds(row.time)}</text>`;
    if (row.kind === 'message') {
      const m = row.message;
      const from = columns.find((c) => c.host.id === m.from)!.index;
      const to = columns.find((c) => c.host.id === m.to)!.index;
      const cls = `tz-arrow tz-${messageClass(m)}${m.retransmission ? ' tz-retransmission' : ''}${m.malformed !== undefined ? ' tz-malformed' : ''}`;
      const label =
        arrowLabel(m) +
        (m.dtmf ? ` DTMF ${m.dtmf}` : '') +
        (m.retransmission ? ' (retransmission)' : '');
      const tip = [
        label,
        m.malformed !== undefined ? `malformed: ${m.malformed}` : undefined,
        m.sdp,
        m.frame !== undefined ? `frame ${m.frame}` : undefined,
        m.transport,
      ]
        .filter(Boolean)
        .join(' · ');
      parts.push(
        `<g class="${cls}" data-testid="arrow" data-index="${m.index}"${m.frame !== undefined ? ` data-frame="${m.frame}"` : ''}>`,
        `<title>${escapeXml(tip)}</title>`,
        `<rect class="tz-hit" x="${PAD}" y="${r(y - ROW_HEIGHT / 2 - 4)}" width="${r(width - 2 * PAD)}" height="${ROW_HEIGHT}" rx="4"/>`,
        time,
        m.frame !== undefined
          ? `<text class="tz-frame" x="${PAD + TIME_WIDTH - 10}" y="${r(y + 16)}" text-anchor="end">#${m.frame}</text>`
          : '',
        arrowShapes(x(from), x(to), y, label, m.sdp, false),
        `</g>`,
      );
    } else {
      const s = row.stream;
      parts.push(
        `<g class="tz-rtp" data-testid="rtp-bar" data-ssrc="${escapeXml(s.ssrc)}">`,
        `<title>${escapeXml(rtpSummary(s))}</title>`,
        time,
        arrowShapes(
          x(row.from),
          x(row.to),
          y,
          `RTP ${s.codec} ${s.ssrc}`,
          `${s.packets} pkts, ${s.lost} lost, jitter ${s.maxJitterMs.toFixed(1)} ms`,
          true,
        ),
        `</g>`,
      );
    }
  });

  // Under the ladder: each stream's summary over a bar showing when its media flowed, on one
  // time axis from the call's first message to its end (or the last packet, if later).
  if (summaries.length > 0) {
    const t0 = call.start;
    const t1 = Math.max(call.start + call.duration, ...call.rtp.map((st) => st.end));
    const span = Math.max(t1 - t0, 1e-3);
    const left = PAD;
    const right = width - PAD;
    const at = (t: number): number =>
      left + ((Math.min(Math.max(t, t0), t1) - t0) / span) * (right - left);
    parts.push(
      `<text class="tz-axis" x="${left}" y="${r(bodyBottom + 26)}">Media, 0 – ${formatSeconds(span)} s after the first message</text>`,
    );
    call.rtp.forEach((st, i) => {
      const y = bodyBottom + FOOTER_TOP + i * STREAM_BLOCK;
      const x1 = at(st.start);
      const x2 = Math.max(at(st.end), x1 + 2);
      parts.push(
        `<g class="tz-stream" data-testid="rtp-timeline" data-ssrc="${escapeXml(st.ssrc)}">`,
        `<text class="tz-rtp-summary" x="${left}" y="${r(y)}">${escapeXml(summaries[i]!)}</text>`,
        `<rect class="tz-track" x="${left}" y="${r(y + 6)}" width="${r(right - left)}" height="${TRACK_HEIGHT}" rx="3"/>`,
        `<rect class="tz-media" x="${r(x1)}" y="${r(y + 6)}" width="${r(x2 - x1)}" height="${TRACK_HEIGHT}" rx="3"/>`,
        `</g>`,
      );
    });
  }
  parts.push('</svg>');
  return parts.filter((p) => p !== '').join('\n') + '\n';

  function arrowShapes(
    x1: number,
    x2: number,
    y: number,
    label: string,
    note: string | undefined,
    double: boolean,
  ): string {
    const out: string[] = [];
    if (x1 === x2) {
      // A message a host sent to itself: a small loop to the right of its lifeline.
      const d = `M${r(x1)} ${r(y - 6)} h28 v12 h-${28 - HEAD_LENGTH}`;
      out.push(`<path d="${d}" fill="none" stroke="var(--c)" stroke-width="1.6"/>`);
      out.push(
        `<polygon points="${r(x1)},${r(y + 6)} ${r(x1 + HEAD_LENGTH)},${r(y + 2)} ${r(x1 + HEAD_LENGTH)},${r(y + 10)}"/>`,
      );
      out.push(
        `<text class="tz-label" x="${r(x1 + 34)}" y="${r(y + 4)}">${escapeXml(label)}</text>`,
      );
      return out.join('');
    }
    const dir = x2 > x1 ? 1 : -1;
    const tip = x2 - dir;
    const base = tip - dir * HEAD_LENGTH;
    const offsets = double ? [-2, 2] : [0];
    for (const o of offsets) {
      out.push(`<line x1="${r(x1)}" y1="${r(y + o)}" x2="${r(base)}" y2="${r(y + o)}"/>`);
    }
    out.push(`<polygon points="${r(tip)},${r(y)} ${r(base)},${r(y - 5)} ${r(base)},${r(y + 5)}"/>`);
    const span = Math.abs(x2 - x1) - 16;
    const chars = Math.max(1, Math.floor(span / CHAR_WIDTH));
    const mid = (x1 + x2) / 2;
    out.push(
      `<text class="tz-label" x="${r(mid)}" y="${r(y - 6)}" text-anchor="middle">${escapeXml(fit(label, chars))}</text>`,
    );
    if (note) {
      const noteChars = Math.max(1, Math.floor(span / (CHAR_WIDTH * 0.88)));
      out.push(
        `<text class="tz-sdp" x="${r(mid)}" y="${r(y + 15)}" text-anchor="middle">${escapeXml(fit(note, noteChars))}</text>`,
      );
    }
    return out.join('');
  }
}

/** A column's tooltip: its label, with the user agent when the label does not already say it. */
function hostTitle(c: Column): string {
  const { label, userAgent } = c.host;
  return userAgent && !label.includes(userAgent) ? `${label} — ${userAgent}` : label;
}

/** Spacing between columns: room for the labels of arrows between neighbours and the headers. */
function columnGap(columns: Column[], call: LadderCall): number {
  let want = MIN_GAP;
  for (const c of columns) want = Math.max(want, textWidth(c.host.id) * CHAR_WIDTH + 40);
  for (const m of call.messages) {
    const from = columns.findIndex((c) => c.host.id === m.from);
    const to = columns.findIndex((c) => c.host.id === m.to);
    const span = Math.abs(to - from);
    if (span === 0) continue;
    // SDP summaries get room up to SDP_ROOM characters; longer ones are cut (whole in the tooltip).
    const chars = Math.max(
      textWidth(arrowLabel(m)) + 14,
      m.sdp ? Math.min(SDP_ROOM, textWidth(m.sdp)) * 0.88 : 0,
    );
    want = Math.max(want, (chars * CHAR_WIDTH + 30) / span);
  }
  return Math.min(MAX_GAP, Math.ceil(want));
}

/** Space between two calls stacked in one drawing. */
const STACK_GAP = 24;

/**
 * Several calls in one SVG document: each call's ladder (renderSvg) nested at its own height, one
 * under the other, the style given once.
 */
export function renderSvgCalls(calls: readonly LadderCall[]): string {
  if (calls.length === 1) return renderSvg(calls[0]!);
  let y = 0;
  let width = 0;
  const nested: string[] = [];
  for (const call of calls) {
    const svg = renderSvg(call, { style: false });
    const w = Number(/ width="([\d.]+)"/.exec(svg)?.[1] ?? 0);
    const h = Number(/ height="([\d.]+)"/.exec(svg)?.[1] ?? 0);
    nested.push(svg.replace('<svg ', `<svg y="${y}" `));
    y += h + STACK_GAP;
    width = Math.max(width, w);
  }
  const height = Math.max(0, y - STACK_GAP);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="tz-ladders" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(`SIP ladders of ${calls.length} calls`)}">` +
    `<style>${SVG_LADDER_CSS}</style>${nested.join('')}</svg>`
  );
}
