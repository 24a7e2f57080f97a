// The dial plan: ordered rules that route a dialled number. The first rule whose pattern matches
// wins; its action says where the call goes (a local user, a trunk) or how it is refused, after
// stripping and prefixing digits.

/** How a rule recognises a dialled number. */
export type NumberMatch =
  | { prefix: string }
  /** Asterisk-style: `_777XXXX` (X 0-9, Z 1-9, N 2-9, [15-7] a set, `.` one or more, `!` zero or more). */
  | { pattern: string }
  | { regex: string };

export type RouteAction =
  | { action: 'local' }
  | { action: 'trunk'; trunk: string }
  | { action: 'reject'; code: number; reason?: string };

export interface DialRule {
  name?: string;
  match: NumberMatch;
  /** Digits removed from the front before the action (applied before `prefix`). */
  strip?: number;
  /** Digits put in front after stripping. */
  prefix?: string;
  route: RouteAction;
}

export interface Route {
  rule: DialRule;
  ruleIndex: number;
  /** The number after strip and prefix: what the local user is, or what is sent over the trunk. */
  number: string;
  route: RouteAction;
}

/** Compiles an Asterisk-style pattern (with its leading underscore) into an anchored RegExp. */
export function compileAsteriskPattern(pattern: string): RegExp {
  if (!pattern.startsWith('_')) {
    throw new Error(`dial pattern "${pattern}" must start with "_" (e.g. _777XXXX)`);
  }
  let source = '';
  for (let i = 1; i < pattern.length; i++) {
    const c = pattern[i]!;
    const upper = c.toUpperCase();
    if (upper === 'X') source += '[0-9]';
    else if (upper === 'Z') source += '[1-9]';
    else if (upper === 'N') source += '[2-9]';
    else if (c === '.') source += '.+';
    else if (c === '!') source += '.*';
    else if (c === '[') {
      const end = pattern.indexOf(']', i);
      if (end < 0) throw new Error(`dial pattern "${pattern}": "[" at ${i} has no closing "]"`);
      const set = pattern.slice(i + 1, end);
      if (!/^[0-9*#+-]+$/.test(set)) {
        throw new Error(
          `dial pattern "${pattern}": set [${set}] may hold only digits, * # + and ranges`,
        );
      }
      source += `[${set.replace(/[*#+]/g, '\\$&')}]`;
      i = end;
    } else if (/[0-9*#+]/.test(c)) source += c === '*' || c === '+' ? `\\${c}` : c;
    else throw new Error(`dial pattern "${pattern}": unexpected "${c}" at ${i}`);
  }
  return new RegExp(`^${source}$`);
}

function compileMatch(match: NumberMatch): (n: string) => boolean {
  if ('prefix' in match) {
    const p = match.prefix;
    return (n) => n.startsWith(p);
  }
  const re = 'pattern' in match ? compileAsteriskPattern(match.pattern) : new RegExp(match.regex);
  return (n) => re.test(n);
}

export class DialPlan {
  private readonly compiled: Array<{ rule: DialRule; test: (n: string) => boolean }>;

  constructor(readonly rules: readonly DialRule[]) {
    this.compiled = rules.map((rule) => ({ rule, test: compileMatch(rule.match) }));
  }

  /** The route for a dialled number, or undefined when no rule matches. */
  route(dialled: string): Route | undefined {
    for (let i = 0; i < this.compiled.length; i++) {
      const { rule, test } = this.compiled[i]!;
      if (!test(dialled)) continue;
      const number = (rule.prefix ?? '') + dialled.slice(rule.strip ?? 0);
      return { rule, ruleIndex: i, number, route: rule.route };
    }
    return undefined;
  }
}
