// Security findings as text for `trapezoid analyze --security`: one block per finding, most
// serious first, with the frame numbers it rests on.
import type { SecurityFinding } from './finding-evidence.ts';

const WIDTH = 100;

export function renderFindingsText(findings: readonly SecurityFinding[]): string {
  if (findings.length === 0) return 'Security findings: none\n';
  const lines = [`Security findings (${findings.length}):`];
  for (const f of findings) {
    lines.push('');
    const head = `  ${f.severity.toUpperCase().padEnd(6)} ${f.kind}`;
    lines.push(head);
    for (const l of wrap(f.text, WIDTH - 9)) lines.push(`         ${l}`);
    if (f.frames.length > 0) {
      const more = f.frameCount > f.frames.length ? `, ... (${f.frameCount} in all)` : '';
      for (const l of wrap(`frames ${f.frames.join(', ')}${more}`, WIDTH - 9)) {
        lines.push(`         ${l}`);
      }
    }
  }
  return lines.join('\n') + '\n';
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}
