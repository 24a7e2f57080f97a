// SIP statistics as text: messages by method, responses by class and by code, each with a bar.
import type { SipStats } from './model.ts';
import { terminalSafe } from './escape.ts';
import { stylePainter, textWidth, type TextStyle } from './text-canvas.ts';

export interface StatsOptions {
  color?: boolean;
}

const BAR_WIDTH = 30;

export function renderStats(stats: SipStats, opts: StatsOptions = {}): string {
  const paint = stylePainter(opts.color ?? false);
  const sections: Array<[string, Array<[string, number, TextStyle]>]> = [
    [
      'Requests by method',
      Object.entries(stats.byMethod)
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .map(([k, v]) => [k, v, 'request']),
    ],
    [
      'Responses by class',
      (['1xx', '2xx', '3xx', '4xx', '5xx', '6xx'] as const).map((k) => [
        k,
        stats.byClass[k] ?? 0,
        k,
      ]),
    ],
    [
      'Responses by code',
      Object.entries(stats.byCode)
        .sort((a, b) => Number(a[0]) - Number(b[0]))
        .map(([k, v]) => [k, v, codeStyle(k)]),
    ],
  ];
  const lines: string[] = [];
  for (const [title, rows] of sections) {
    if (lines.length > 0) lines.push('');
    lines.push(paint('bold', title));
    if (rows.length === 0) {
      lines.push('  (none)');
      continue;
    }
    const labelWidth = Math.max(...rows.map(([k]) => textWidth(terminalSafe(k))));
    const countWidth = Math.max(...rows.map(([, v]) => String(v).length));
    const max = Math.max(1, ...rows.map(([, v]) => v));
    for (const [key, count, style] of rows) {
      const label = terminalSafe(key);
      const bar = count > 0 ? '█'.repeat(Math.max(1, Math.round((count / max) * BAR_WIDTH))) : '';
      lines.push(
        `  ${label}${' '.repeat(labelWidth - textWidth(label))}  ${String(count).padStart(countWidth)}  ${paint(style, bar)}`.trimEnd(),
      );
    }
  }
  return lines.join('\n') + '\n';
}

function codeStyle(code: string): TextStyle {
  const n = Number(code);
  if (n < 200) return '1xx';
  if (n < 300) return '2xx';
  if (n < 400) return '3xx';
  return '4xx';
}
