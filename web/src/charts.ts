// Small live charts from the once-a-second metrics samples: calls/s, active calls, and failures/s
// by class (4xx, 5xx, 6xx). Inline SVG polylines; the last two minutes.
import type { MetricsSample } from '../../src/server/console-model.ts';

const POINTS = 120;
const W = 360;
const H = 70;

export interface ChartPoint {
  ts: number;
  cps: number;
  active: number;
  fail4: number;
  fail5: number;
  fail6: number;
}

export class Charts {
  readonly points: ChartPoint[] = [];
  private previous?: MetricsSample;

  constructor(private readonly root: HTMLElement) {}

  add(s: MetricsSample): ChartPoint | undefined {
    const p = this.previous;
    this.previous = s;
    if (!p || s.ts <= p.ts) return undefined;
    const dt = (s.ts - p.ts) / 1000;
    const rate = (a: number, b: number) => Math.max(0, (a - b) / dt);
    const cls = (c: string) => rate(s.responses[c] ?? 0, p.responses[c] ?? 0);
    const point = {
      ts: s.ts,
      cps: rate(s.invites, p.invites),
      active: s.activeCalls,
      fail4: cls('4xx'),
      fail5: cls('5xx'),
      fail6: cls('6xx'),
    };
    this.points.push(point);
    if (this.points.length > POINTS) this.points.shift();
    this.draw();
    return point;
  }

  private draw(): void {
    const series: Array<{ title: string; lines: Array<[string, (p: ChartPoint) => number]> }> = [
      { title: 'Calls per second', lines: [['#2563eb', (p) => p.cps]] },
      { title: 'Active calls', lines: [['#15803d', (p) => p.active]] },
      {
        title: 'Errors/s (4xx · 5xx · 6xx)',
        lines: [
          ['#b45309', (p) => p.fail4],
          ['#dc2626', (p) => p.fail5],
          ['#7c3aed', (p) => p.fail6],
        ],
      },
    ];
    this.root.replaceChildren(
      ...series.map((s) => {
        const max = Math.max(1, ...this.points.flatMap((p) => s.lines.map(([, f]) => f(p))));
        const x = (i: number) => (i / (POINTS - 1)) * W;
        const y = (v: number) => H - 4 - (v / max) * (H - 12);
        const polylines = s.lines
          .map(([color, f]) => {
            const pts = this.points.map(
              (p, i) => `${x(i + POINTS - this.points.length).toFixed(1)},${y(f(p)).toFixed(1)}`,
            );
            return `<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${pts.join(' ')}"/>`;
          })
          .join('');
        const last = this.points[this.points.length - 1];
        const now = last
          ? s.lines
              .map(([, f]) => f(last).toFixed(s.title.startsWith('Active') ? 0 : 1))
              .join(' · ')
          : '–';
        const card = document.createElement('section');
        card.className = 'card chart';
        card.innerHTML = `<h2>${s.title} <span class="count">${now} (max ${max.toFixed(0)})</span></h2><svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" width="100%" height="${H}"><line x1="0" x2="${W}" y1="${H - 4}" y2="${H - 4}" stroke="#e2e8f0"/>${polylines}</svg>`;
        return card;
      }),
    );
  }
}
