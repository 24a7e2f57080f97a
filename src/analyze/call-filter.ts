// The --filter language: a comma-separated list of key=value terms, all of which must hold (AND).
//
//   callid=VALUE   the Call-ID contains VALUE
//   user=VALUE     the From or To user part (or the whole 'user@host') equals VALUE
//   number=DIGITS  the From or To user, digits only, ends with DIGITS (so 1000 matches +491000)
//   from=VALUE     From 'user@host' contains VALUE;   to=VALUE: the same for To
//   method=NAME    the call has a request of that method (INVITE, REGISTER, OPTIONS, ...)
//   status=CODE    the call saw a response with that code (486) or class (4xx)
//   state=STATE    completed | rejected | cancelled | in-progress | failed
//
// Keys are case-insensitive; `key!=value` negates a term. Example: 'method=INVITE,status=4xx'.
import type { LadderCall } from '../render/model.ts';

export type FilterKey =
  'callid' | 'user' | 'number' | 'from' | 'to' | 'method' | 'status' | 'state';

export interface FilterTerm {
  key: FilterKey;
  value: string;
  negate: boolean;
}

const KEYS: readonly FilterKey[] = [
  'callid',
  'user',
  'number',
  'from',
  'to',
  'method',
  'status',
  'state',
];

export const FILTER_HELP = `Filter syntax: key=value terms joined by ',' (all must hold); key!=value negates.
  callid=ABC   Call-ID contains ABC        user=1000    From or To user is 1000
  number=555   From/To digits end in 555   from=alice   From contains alice (to= likewise)
  method=BYE   call has a BYE request      status=486   a 486 response (status=4xx: any 4xx)
  state=rejected  completed|rejected|cancelled|in-progress|failed
  e.g. --filter 'method=INVITE,status=4xx'`;

export class FilterSyntaxError extends Error {}

/** Parses a filter expression; throws FilterSyntaxError naming the bad term. */
export function parseFilter(text: string): FilterTerm[] {
  const terms: FilterTerm[] = [];
  for (const part of text.split(',')) {
    const term = part.trim();
    if (!term) continue;
    const m = /^([A-Za-z-]+)\s*(!?=)\s*(.*)$/.exec(term);
    if (!m) throw new FilterSyntaxError(`bad filter term '${term}': expected key=value`);
    const key = m[1].toLowerCase().replace('-', '') as FilterKey;
    if (!KEYS.includes(key)) {
      throw new FilterSyntaxError(`unknown filter key '${m[1]}' (known: ${KEYS.join(', ')})`);
    }
    const value = m[3].trim();
    if (!value) throw new FilterSyntaxError(`filter term '${term}' has no value`);
    if (key === 'status' && !/^[1-6](\d\d|xx)$/i.test(value)) {
      throw new FilterSyntaxError(`bad status '${value}': use a code (486) or a class (4xx)`);
    }
    terms.push({ key, value, negate: m[2] === '!=' });
  }
  return terms;
}

/** True when the call satisfies every term. */
export function matchesFilter(call: LadderCall, terms: readonly FilterTerm[]): boolean {
  return terms.every((t) => matchTerm(call, t) !== t.negate);
}

function matchTerm(call: LadderCall, t: FilterTerm): boolean {
  const v = t.value;
  switch (t.key) {
    case 'callid':
      return call.callId.includes(v);
    case 'user':
      return [call.from, call.to].some((aor) => aor === v || userOf(aor) === v);
    case 'number': {
      const digits = v.replace(/\D/g, '');
      if (!digits) return false;
      return [call.from, call.to].some((aor) => userOf(aor).replace(/\D/g, '').endsWith(digits));
    }
    case 'from':
      return call.from.toLowerCase().includes(v.toLowerCase());
    case 'to':
      return call.to.toLowerCase().includes(v.toLowerCase());
    case 'method': {
      const method = v.toUpperCase();
      return call.messages.some((m) => m.kind === 'request' && m.method === method);
    }
    case 'status': {
      const cls = /xx$/i.test(v) ? Number(v[0]) : undefined;
      return call.messages.some(
        (m) =>
          m.status !== undefined &&
          (cls !== undefined ? Math.floor(m.status / 100) === cls : m.status === Number(v)),
      );
    }
    case 'state':
      return call.state === v.toLowerCase();
  }
}

function userOf(aor: string): string {
  const at = aor.lastIndexOf('@');
  return at < 0 ? aor : aor.slice(0, at);
}
