// A Mermaid sequenceDiagram of a call: one participant per host (aliases H1, H2... because
// 'address:port' is not a valid Mermaid id), one ->> arrow per message, RTP streams as notes.
// Text goes through Mermaid's entity codes (#59; and friends) so that ';', '#', '<', '>' and line
// breaks in a capture cannot end a statement or inject markup.
import type { LadderCall } from './model.ts';
import { ladderColumns, formatSeconds, rtpSummary } from './host-columns.ts';
import { ladderRows, arrowLabel } from './ladder-rows.ts';

const MERMAID_ENTITIES: Record<string, string> = {
  '#': '#35;',
  ';': '#59;',
  '<': '#lt;',
  '>': '#gt;',
  '&': '#amp;',
  '"': '#quot;',
  '%': '#37;',
  '{': '#123;',
  '}': '#125;',
  '\\': '#92;',
  '`': '#96;',
};

/** Escapes text for a Mermaid message, note or participant label: one line, no syntax. */
export function escapeMermaid(text: string): string {
  return text
    .replace(/[\r\n\t\u2028\u2029]+/g, ' ')
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .replace(/[#;<>&"%{}\\`]/g, (c) => MERMAID_ENTITIES[c] ?? c)
    .trim();
}

export function renderMermaid(call: LadderCall): string {
  const columns = ladderColumns(call);
  const alias = new Map(columns.map((c) => [c.host.id, `H${c.index + 1}`]));
  const lines = ['sequenceDiagram'];
  lines.push(`  title ${escapeMermaid(`Call ${call.callId}: ${call.from} → ${call.to}`)}`);
  for (const c of columns) {
    const ua = c.host.userAgent ?? (c.host.label !== c.host.id ? c.host.label : '');
    const label = escapeMermaid(c.host.id) + (ua ? '<br/>' + escapeMermaid(ua) : '');
    lines.push(`  participant ${alias.get(c.host.id)} as ${label}`);
  }
  for (const row of ladderRows(call, columns)) {
    const time = formatSeconds(row.time);
    if (row.kind === 'message') {
      const m = row.message;
      let text = `${time} ${arrowLabel(m)}`;
      if (m.sdp) text += ` (${m.sdp})`;
      if (m.dtmf) text += ` (DTMF ${m.dtmf})`;
      if (m.retransmission) text += ' (retransmission)';
      if (m.malformed !== undefined) text += ` (malformed: ${m.malformed})`;
      // A dotted arrow marks a retransmission.
      const arrow = m.retransmission ? '-->>' : '->>';
      lines.push(`  ${alias.get(m.from)}${arrow}${alias.get(m.to)}: ${escapeMermaid(text)}`);
    } else {
      const a = `H${row.from + 1}`;
      const b = `H${row.to + 1}`;
      lines.push(`  Note over ${a},${b}: ${escapeMermaid(`${time} ${rtpSummary(row.stream)}`)}`);
    }
  }
  return lines.join('\n') + '\n';
}
