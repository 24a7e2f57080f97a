// RFC 3665 call flows through the analyzer: every flow in ../shared/call-flows is turned into a
// call (hosts derived from the messages by src/analyze/message-flow.ts, since the flows carry no
// addresses), rendered as a text ladder, and the ladder read back from the text must show the
// RFC's arrows (parsed from the ASCII diagram in the file's leading comment) in the same order,
// with the same labels (method or status code) and the same direction: one consistent mapping
// from our columns (hosts) to the RFC's columns (Alice, Proxy 1, ...) must explain every arrow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseMessage } from '../src/sip/index.ts';
import { CallTracker } from '../src/analyze/call-tracker.ts';
import { ladderCall } from '../src/analyze/call-summary.ts';
import { deriveFlowHops } from '../src/analyze/message-flow.ts';
import { renderText } from '../src/render/text-ladder.ts';
import { sharedDir } from './support/peers.ts';

const flowsDir = join(sharedDir, 'call-flows');

interface Arrow {
  /** 'INVITE' or a status code such as '180'. */
  label: string;
  from: number;
  to: number;
}

/**
 * Known places where a flow file's message disagrees with its own diagram, so that no
 * derivation from the messages can match. Each entry is checked: the message must really say
 * what the note claims, else the exception is stale and the test fails.
 */
const KNOWN_DEVIATIONS: Record<
  string,
  { arrow: number; note: string; check: (raw: string) => boolean }[]
> = {
  '3.03_session-with-multiple-proxy-authentication.yaml': [
    {
      arrow: 8,
      note: "ACK F8 (Proxy 1 -> Proxy 2) carries only Alice's Via (branch z9hG4bK74b21) in the file, identical to ACK F10",
      check: (raw) => /^ACK /.test(raw) && !/ss1\.atlanta/.test(raw) && /z9hG4bK74b21/.test(raw),
    },
  ],
  '3.08_unsuccessful-no-answer.yaml': [
    {
      arrow: 18,
      note: "ACK F18 (Proxy 1 -> Proxy 2) carries Proxy 2's Via (branch z9hG4bK721e4.1) in the file, as ACK F16 does",
      check: (raw) => /^ACK /.test(raw) && !/ss1\.atlanta/.test(raw) && /z9hG4bK721e4\.1/.test(raw),
    },
  ],
};

/** First token of an RFC label that is a method or a status code: 'F1 INVITE' -> 'INVITE'. */
function labelKey(text: string): string | undefined {
  for (const token of text.trim().split(/\s+/)) {
    if (/^F\d+$/.test(token)) continue;
    if (/^\d{3}$/.test(token) || /^[A-Z]+$/.test(token)) return token;
    return undefined;
  }
  return undefined;
}

/** The RFC diagram's arrows in F order. */
function rfcArrows(comment: string[]): { arrows: Arrow[]; numbers: number[] } {
  const lifeline = comment.find((l) => /^\s*\|(\s+\|)+\s*$/.test(l));
  assert.ok(lifeline, 'diagram has a lifeline row');
  const centers = [...lifeline.matchAll(/\|/g)].map((m) => m.index!);
  const nearest = (x: number): number => {
    let best = 0;
    centers.forEach((c, i) => {
      if (Math.abs(c - x) < Math.abs(centers[best] - x)) best = i;
    });
    return best;
  };
  type Segment = { x0: number; x1: number; right: boolean; used: boolean };
  const segments = comment.map((line) =>
    [...line.matchAll(/<?-{3,}>?/g)].map((m): Segment => ({
      x0: m.index!,
      x1: m.index! + m[0].length - 1,
      right: m[0].endsWith('>'),
      used: false,
    })),
  );
  const found: { n: number; arrow: Arrow }[] = [];
  comment.forEach((line, i) => {
    // Label chunks: text between lifelines that names an F number.
    for (const chunk of line.matchAll(/[^|]+/g)) {
      const text = chunk[0];
      const f = /\bF(\d+)\b/.exec(text);
      if (!f) continue;
      const s = chunk.index!;
      const e = s + text.length - 1;
      for (let k = i + 1; k <= i + 2 && k < comment.length; k++) {
        const seg = segments[k].find((g) => !g.used && g.x0 <= e && g.x1 >= s);
        if (!seg) continue;
        seg.used = true;
        const left = nearest(seg.x0 - 1);
        const right = nearest(seg.x1 + 1);
        const label = labelKey(text);
        assert.ok(label, `label of F${f[1]}: '${text.trim()}'`);
        found.push({
          n: Number(f[1]),
          arrow: { label, from: seg.right ? left : right, to: seg.right ? right : left },
        });
        break;
      }
    }
  });
  found.sort((a, b) => a.n - b.n);
  return { arrows: found.map((x) => x.arrow), numbers: found.map((x) => x.n) };
}

interface TextArrow {
  label: string;
  /** Host ids read from the column headers. */
  from: string;
  to: string;
  time: number;
}

/** Our text ladder's arrows, read back from the rendered text (hosts from the column headers). */
function textArrows(text: string): TextArrow[] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => /^\s*│(\s+│)+\s*$/.test(l));
  assert.ok(at > 0, 'ladder has a lifeline row');
  const centers = [...lines[at].matchAll(/│/g)].map((m) => m.index!);
  // The first header line names each column (centred over its lifeline).
  const header = lines.slice(1, at).find((l) => l.trim().length > 0)!;
  const names = [...header.matchAll(/\S+/g)].map((m) => ({
    name: m[0],
    center: m.index! + m[0].length / 2,
  }));
  const hostAt = (x: number): string => {
    const i = centers.indexOf(x);
    assert.ok(i >= 0, `arrow end at ${x} is on a lifeline`);
    const best = names.reduce((a, b) =>
      Math.abs(a.center - centers[i]) <= Math.abs(b.center - centers[i]) ? a : b,
    );
    return best.name;
  };
  const arrows: TextArrow[] = [];
  for (const line of lines.slice(at + 1)) {
    const head = line.search(/[▶◀]/);
    if (head < 0 || line.includes('═')) continue;
    const rightward = line[head] === '▶';
    let x = head;
    const step = rightward ? -1 : 1;
    while (x > 0 && x < line.length && line[x] !== '│') x += step;
    const body = rightward ? line.slice(x + 1, head) : line.slice(head + 1, x);
    const label = body.replace(/[─╌┼]/g, ' ').trim().split(/\s+/)[0];
    arrows.push({
      label,
      from: hostAt(x),
      to: hostAt(head + (rightward ? 1 : -1)),
      time: Number(line.trim().split(/\s+/)[0]),
    });
  }
  return arrows;
}

for (const file of readdirSync(flowsDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()) {
  test(`RFC 3665 ${file}: ladder shows the RFC's arrows`, () => {
    const text = readFileSync(join(flowsDir, file), 'utf8');
    const comment = text
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .map((l) => l.slice(1));
    const raws = (parseYaml(text) as string[]).map((m) => m.replace(/\r?\n/g, '\r\n'));
    const messages = raws.map((r) => parseMessage(r));
    const hops = deriveFlowHops(messages);
    const tracker = new CallTracker();
    raws.forEach((raw, i) => {
      const [src, srcPort] = splitHost(hops[i].from);
      const [dst, dstPort] = splitHost(hops[i].to);
      const transport = messages[i].topVia.transport;
      const ok = tracker.ingest(Buffer.from(raw), {
        frame: i + 1,
        ts: 1000 + i * 0.01,
        src,
        srcPort,
        dst,
        dstPort,
        transport,
      });
      assert.ok(ok, `message ${i + 1} parses: ${JSON.stringify(tracker.parseFailures.at(-1))}`);
    });
    // A flow may hold several calls (3.04 starts a new Call-ID after the proxy failure): each
    // is rendered on its own and the arrows are merged back by time.
    const calls = [...tracker.calls.values()].map((c) => ladderCall(c));
    const ladders = calls.map((c) => renderText(c, { color: false, width: 240 }));
    const ladder = ladders.join('\n');
    const ours = calls
      .flatMap((c, i) => textArrows(ladders[i]).map((a) => ({ ...a, time: a.time + c.start })))
      .sort((a, b) => a.time - b.time);
    const call = calls[calls.length - 1];
    const { arrows: theirs, numbers } = rfcArrows(comment);

    assert.equal(theirs.length, raws.length, `diagram arrows = messages in ${file}`);
    assert.deepEqual(
      numbers,
      theirs.map((_, i) => i + 1),
      'F1..Fn',
    );
    assert.equal(ours.length, theirs.length, `arrows in our ladder:\n${ladder}`);

    const deviations = KNOWN_DEVIATIONS[file] ?? [];
    const mapping = new Map<string, number>();
    ours.forEach((a, i) => {
      const rfc = theirs[i];
      assert.equal(a.label, rfc.label, `F${i + 1} label\n${ladder}`);
      const deviation = deviations.find((d) => d.arrow === i + 1);
      if (deviation) {
        assert.ok(
          deviation.check(raws[i]),
          `stale known deviation for F${i + 1}: ${deviation.note}`,
        );
        return;
      }
      for (const [mine, theirsCol] of [
        [a.from, rfc.from],
        [a.to, rfc.to],
      ] as const) {
        const prior = mapping.get(mine);
        assert.ok(
          prior === undefined || prior === theirsCol,
          `F${i + 1} ${rfc.label}: our column ${mine} is already RFC column ${prior}, here it would be ${theirsCol}\n${ladder}`,
        );
        mapping.set(mine, theirsCol);
      }
    });
    // The state of the call agrees with the flow's outcome.
    const finalStatus = call.finalStatus;
    if (file.startsWith('3.08')) assert.equal(call.state, 'cancelled');
    else if (file.startsWith('3.09')) assert.equal(finalStatus, 486);
    else if (file.startsWith('3.10')) assert.equal(finalStatus, 480);
    else if (file.startsWith('2.05')) assert.equal(call.state, 'rejected');
    else if (file.startsWith('3.01')) {
      assert.equal(call.state, 'completed');
      assert.equal(call.hungUpBy, 'callee');
    }
  });
}

function splitHost(id: string): [string, number] {
  const i = id.lastIndexOf(':');
  return [id.slice(0, i), Number(id.slice(i + 1))];
}
