// Parse benchmark: trapezoid's SIP parser against the npm packages sip, drachtio-srf and jssip,
// on the same message mix (bench/messages.ts), in the same process.
//
// 1. Check: every parser must extract, from every message, the method or status, Call-ID,
//    CSeq number and method, top Via branch, From tag and body length, equal to the expected
//    values. A parser that gets one wrong is not timed and not reported.
// 2. Time: a warm-up, then RUNS rounds; in each round every parser parses the mix over and over
//    for DURATION; the order of parsers rotates from round to round so machine noise hits all
//    alike. A parser's score is the median messages/s over its runs.
// 3. Last line of output: {"bench":"parse","trapezoid":N,"best_other":N,"best_other_name":"...","ratio":X}
//
// Usage: node --import tsx bench/parse.ts [--quick]
import { createRequire } from 'node:module';
import { availableParallelism, loadavg } from 'node:os';
import { parseMessage, SipRequest } from '../src/sip/index.ts';
import { messageMix, type ExpectedFields } from './messages.ts';
import { median } from './stats.ts';

const require = createRequire(import.meta.url);

type Fields = ExpectedFields;

interface Contender {
  name: string;
  /** What the parser is given: Buffers where it takes them, strings where it needs them. */
  input: 'buffer' | 'string';
  /** Parses one message and reaches the checked fields; undefined when the parser refuses it. */
  extract(input: Buffer | string): Fields | undefined;
}

// ---- trapezoid ---------------------------------------------------------------------------

const trapezoid: Contender = {
  name: 'trapezoid',
  input: 'buffer',
  extract(input) {
    const msg = parseMessage(input);
    return {
      methodOrStatus: msg instanceof SipRequest ? msg.method : msg.status,
      callId: msg.callId,
      cseqSeq: msg.cseq.seq,
      cseqMethod: msg.cseq.method,
      topBranch: msg.topVia.branch ?? '',
      fromTag: msg.from.tag ?? '',
      bodyLength: msg.body.length,
    };
  },
};

// ---- sip (npm "sip" 0.0.6): sip.parse(buffer) decodes as 'binary' and parses every header ---

interface SipJsMessage {
  method?: string;
  status?: number;
  headers: {
    via: Array<{ params: Record<string, string | undefined> }>;
    from: { params: Record<string, string | undefined> };
    'call-id': string;
    cseq: { seq: number; method: string };
  };
  /** Body as a 'binary' string: one char per byte. */
  content: string;
}

function loadSipJs(): Contender {
  const sip = require('sip') as { parse(data: Buffer | string): SipJsMessage | undefined };
  return {
    name: 'sip',
    input: 'buffer',
    extract(input) {
      const m = sip.parse(input);
      if (!m) return undefined;
      const h = m.headers;
      return {
        methodOrStatus: m.method ?? m.status ?? '',
        callId: h['call-id'],
        cseqSeq: h.cseq.seq,
        cseqMethod: h.cseq.method,
        topBranch: h.via[0]?.params.branch ?? '',
        fromTag: h.from.params.tag ?? '',
        bodyLength: m.content.length,
      };
    },
  };
}

// ---- drachtio-srf: lib/sip-parser/parser.js parseSipMessage(buffer) (utf8, every header) ------

interface DrachtioMessage {
  method?: string;
  status?: number;
  headers: SipJsMessage['headers'];
  /** Body as a utf8 string (the mix is ASCII, so its length is the byte count). */
  body: string;
}

function loadDrachtio(): Contender {
  const parser = require('drachtio-srf/lib/sip-parser/parser') as {
    parseSipMessage(data: Buffer | string, lazy?: boolean): DrachtioMessage | undefined;
  };
  return {
    name: 'drachtio-srf',
    input: 'buffer',
    extract(input) {
      const m = parser.parseSipMessage(input);
      if (!m) return undefined;
      const h = m.headers;
      return {
        methodOrStatus: m.method ?? m.status ?? '',
        callId: h['call-id'],
        cseqSeq: h.cseq.seq,
        cseqMethod: h.cseq.method,
        topBranch: h.via[0]?.params.branch ?? '',
        fromTag: h.from.params.tag ?? '',
        bodyLength: m.body.length,
      };
    },
  };
}

// ---- jssip: lib/Parser.js parseMessage(string, ua) --------------------------------------------
// It takes a string only (it calls indexOf/substring on it). The second argument is the
// JsSIP.UA an incoming request gets attached to; parsing never calls it, so a plain empty
// object stands in for it. It parses Via, From, To, Call-ID, CSeq, Contact, Content-Length
// eagerly and keeps the CSeq method in the parsed header (cached, so reading it is free).

interface JsSipMessage {
  method: string | null;
  status_code?: number;
  call_id: string | null;
  cseq: number | null;
  via_branch: string | null;
  from_tag: string | null;
  body: string | null;
  parseHeader(name: string): { method: string } | undefined;
}

function loadJsSip(): Contender {
  const parser = require('jssip/lib/Parser') as {
    parseMessage(data: string, ua: object): JsSipMessage | undefined;
  };
  const fakeUa = {};
  return {
    name: 'jssip',
    input: 'string',
    extract(input) {
      const m = parser.parseMessage(input as string, fakeUa);
      if (!m) return undefined;
      return {
        methodOrStatus: m.status_code ?? m.method ?? '',
        callId: m.call_id ?? '',
        cseqSeq: m.cseq ?? -1,
        cseqMethod: m.parseHeader('cseq')?.method ?? '',
        topBranch: m.via_branch ?? '',
        fromTag: m.from_tag ?? '',
        bodyLength: m.body?.length ?? 0,
      };
    },
  };
}

// ---- checking ------------------------------------------------------------------------------

const FIELD_NAMES: Array<keyof Fields> = [
  'methodOrStatus',
  'callId',
  'cseqSeq',
  'cseqMethod',
  'topBranch',
  'fromTag',
  'bodyLength',
];

function inputsFor(c: Contender): Array<Buffer | string> {
  // Converted once, outside the timed loop.
  return messageMix.map((m) => (c.input === 'buffer' ? Buffer.from(m.text, 'utf8') : m.text));
}

/** Every way the contender misses the expected values; empty when it gets them all. */
function check(c: Contender): string[] {
  const problems: string[] = [];
  const inputs = inputsFor(c);
  messageMix.forEach((m, i) => {
    let got: Fields | undefined;
    try {
      got = c.extract(inputs[i]!);
    } catch (err) {
      problems.push(`${m.name}: threw ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (!got) {
      problems.push(`${m.name}: not parsed`);
      return;
    }
    for (const f of FIELD_NAMES) {
      if (got[f] !== m.expected[f]) {
        problems.push(
          `${m.name}: ${f} is ${JSON.stringify(got[f])}, expected ${JSON.stringify(m.expected[f])}`,
        );
      }
    }
  });
  return problems;
}

// ---- timing --------------------------------------------------------------------------------

/** Folded into by every parse, printed at the end, so no parse can be optimised away. */
let sink = 0;

function consume(f: Fields | undefined): number {
  if (!f) return 0;
  const m = f.methodOrStatus;
  return (
    (typeof m === 'number' ? m : m.length) +
    f.callId.length +
    f.cseqSeq +
    f.cseqMethod.length +
    f.topBranch.length +
    f.fromTag.length +
    f.bodyLength
  );
}

/** Parses the mix over and over for about `ms` milliseconds; returns messages per second. */
function timeRun(c: Contender, inputs: Array<Buffer | string>, ms: number): number {
  const budget = BigInt(Math.round(ms * 1e6));
  const start = process.hrtime.bigint();
  let count = 0;
  let acc = 0;
  let elapsed = 0n;
  do {
    for (let i = 0; i < inputs.length; i++) acc += consume(c.extract(inputs[i]!));
    count += inputs.length;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < budget);
  sink = (sink + acc) % 1_000_000_007;
  return count / (Number(elapsed) / 1e9);
}

// ---- main ----------------------------------------------------------------------------------

const quick = process.argv.includes('--quick');
const unknown = process.argv.slice(2).filter((a) => a !== '--quick');
if (unknown.length > 0) {
  console.error(
    `bench/parse: unknown argument ${unknown.join(' ')} (usage: bench/parse.ts [--quick])`,
  );
  process.exit(2);
}
const RUNS = quick ? 3 : 7;
const DURATION_MS = quick ? 200 : 1000;
const WARMUP_MS = quick ? 300 : 500;

const contenders: Contender[] = [trapezoid];
for (const [name, load] of [
  ['sip', loadSipJs],
  ['drachtio-srf', loadDrachtio],
  ['jssip', loadJsSip],
] as const) {
  try {
    contenders.push(load());
  } catch (err) {
    console.log(
      `${name}: not loaded (${err instanceof Error ? err.message : String(err)}), left out`,
    );
  }
}

console.log(
  `parse bench: node ${process.version}, ${messageMix.length} messages in the mix ` +
    `(${messageMix.map((m) => m.name).join(', ')}), ${RUNS} runs x ${DURATION_MS} ms per parser` +
    (quick ? ' (--quick)' : ''),
);
// Numbers from a busy machine are noisy: say how busy it was.
console.log(
  `machine: ${availableParallelism()} CPUs, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);

const checked: Contender[] = [];
for (const c of contenders) {
  const problems = check(c);
  if (problems.length === 0) {
    console.log(`check ${c.name}: all ${messageMix.length} messages give the expected fields`);
    checked.push(c);
  } else {
    console.log(`check ${c.name}: WRONG, not reported:`);
    for (const p of problems) console.log(`  ${p}`);
  }
}

const inputs = new Map(checked.map((c) => [c, inputsFor(c)]));
for (const c of checked) timeRun(c, inputs.get(c)!, WARMUP_MS);

const rates = new Map<Contender, number[]>(checked.map((c) => [c, []]));
for (let round = 0; round < RUNS; round++) {
  for (let k = 0; k < checked.length; k++) {
    const c = checked[(k + round) % checked.length]!;
    rates.get(c)!.push(timeRun(c, inputs.get(c)!, DURATION_MS));
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const scores = new Map<string, number>();
const nameWidth = Math.max(...checked.map((c) => c.name.length), 9);
for (const c of checked) {
  const r = rates.get(c)!;
  const med = median(r);
  scores.set(c.name, med);
  console.log(
    `${c.name.padEnd(nameWidth)}  ${fmt(med).padStart(11)} msg/s  ` +
      `(runs ${fmt(Math.min(...r))} .. ${fmt(Math.max(...r))}; input ${c.input})`,
  );
}
console.log(`(checksum ${sink})`);

const own = scores.get('trapezoid');
let bestName: string | null = null;
let best: number | null = null;
for (const [name, score] of scores) {
  if (name !== 'trapezoid' && (best === null || score > best)) {
    best = score;
    bestName = name;
  }
}
const ratio = own !== undefined && best ? Math.round((own / best) * 100) / 100 : null;
console.log(
  JSON.stringify({
    bench: 'parse',
    trapezoid: own === undefined ? null : Math.round(own),
    best_other: best === null ? null : Math.round(best),
    best_other_name: bestName,
    ratio,
  }),
);
// A trapezoid that fails its own check has no score: that is a failed bench.
if (own === undefined) process.exitCode = 1;
