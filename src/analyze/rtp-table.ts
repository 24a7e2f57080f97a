// RTP streams as a text table, with the columns of `tshark -z rtp,streams` plus codec, MOS and
// DTMF. Lost counts the packets that never came (tshark's Lost plus the duplicates it subtracts,
// never negative); Dup shows the duplicates.
import { missingPackets } from '../render/model.ts';
import type { RtpStreamSummary } from './analysis-report.ts';

interface Column {
  title: string;
  right: boolean;
  cell: (s: RtpStreamSummary) => string;
}

const COLUMNS: Column[] = [
  { title: 'Src', right: false, cell: (s) => s.src },
  { title: 'Dst', right: false, cell: (s) => s.dst },
  { title: 'SSRC', right: false, cell: (s) => s.ssrc },
  { title: 'Codec', right: false, cell: (s) => s.codec },
  { title: 'Pkts', right: true, cell: (s) => String(s.packets) },
  {
    // Packets that never came: tshark's Lost goes negative with duplicates (JSON `lost`).
    title: 'Lost',
    right: true,
    cell: (s) => {
      const missing = missingPackets(s);
      const expected = s.packets - s.duplicates + missing;
      return `${missing} (${(expected > 0 ? (100 * missing) / expected : 0).toFixed(1)}%)`;
    },
  },
  { title: 'Dup', right: true, cell: (s) => String(s.duplicates) },
  { title: 'OOO', right: true, cell: (s) => String(s.outOfOrder) },
  { title: 'MaxΔ ms', right: true, cell: (s) => s.maxDeltaMs.toFixed(3) },
  { title: 'MaxJit ms', right: true, cell: (s) => s.maxJitterMs.toFixed(3) },
  { title: 'MeanJit ms', right: true, cell: (s) => s.meanJitterMs.toFixed(3) },
  { title: 'MOS', right: true, cell: (s) => (s.mos !== undefined ? s.mos.toFixed(2) : '-') },
  { title: 'DTMF', right: false, cell: (s) => s.dtmf ?? '' },
  {
    title: 'Call',
    right: false,
    cell: (s) => s.callId ?? (s.foundBy === 'heuristic' ? '(heuristic)' : '-'),
  },
];

/** The streams as an aligned text table ('No RTP streams.' when there are none). */
export function renderRtpTable(streams: readonly RtpStreamSummary[]): string {
  if (streams.length === 0) return 'No RTP streams.\n';
  const rows = streams.map((s) => COLUMNS.map((c) => c.cell(s)));
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (COLUMNS[i].right ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(COLUMNS.map((c) => c.title)), ...rows.map(line)].join('\n') + '\n';
}
