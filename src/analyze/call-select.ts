// Choosing calls by a piece of their Call-ID (`--ladder ID`, `--format svg|mermaid`): Call-IDs are
// long random strings, so a user types the start of one, or a piece of it they saw in a list.
//
// The exact Call-ID wins; else a unique prefix; else a unique substring. Several prefixes (or
// several substrings, when no prefix matches) are ambiguous: the answer names them.
import type { LadderCall } from '../render/model.ts';

/** Calls named in an ambiguous answer. */
const MAX_NAMED = 10;

export type CallSelection = { calls: LadderCall[] } | { error: string; matches: string[] };

export function selectCallById(calls: readonly LadderCall[], wanted: string): CallSelection {
  const exact = calls.filter((c) => c.callId === wanted);
  if (exact.length > 0) return { calls: exact };
  for (const [how, match] of [
    ['start with', (c: LadderCall) => c.callId.startsWith(wanted)],
    ['contain', (c: LadderCall) => c.callId.includes(wanted)],
  ] as const) {
    const found = calls.filter(match);
    if (found.length === 1) return { calls: found };
    if (found.length > 1) {
      const ids = found.map((c) => c.callId);
      const named = ids.slice(0, MAX_NAMED).map((id) => `  ${id}`);
      if (ids.length > MAX_NAMED) named.push(`  ... ${ids.length - MAX_NAMED} more`);
      return {
        error: `${ids.length} calls ${how} '${wanted}'; give more of the Call-ID:\n${named.join('\n')}`,
        matches: ids,
      };
    }
  }
  return { error: `no call with a Call-ID like '${wanted}'`, matches: [] };
}

/** The call a single-call drawing shows when none was chosen: the first INVITE, else the first. */
export function defaultCall(calls: readonly LadderCall[]): LadderCall | undefined {
  return calls.find((c) => c.firstMethod === 'INVITE') ?? calls[0];
}
