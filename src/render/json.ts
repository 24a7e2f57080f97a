// JSON of a call or a whole report, for scripts (`--format json`). The model is already plain
// data; this only fixes the layout (two-space indent, trailing newline).
import type { LadderCall, Report } from './model.ts';

export function renderJson(value: LadderCall | Report): string {
  return JSON.stringify(value, null, 2) + '\n';
}
