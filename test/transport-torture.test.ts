// RFC 4475 torture messages thrown at a TransportLayer over UDP, one datagram each: the valid
// ones (§3.1.1, §3.2, §3.3, §3.4) are handed up parsed, every invalid request (§3.1.2) is answered
// 400 with a reason phrase, the invalid response is dropped, and the layer keeps working.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SipRequest } from '../src/sip/index.ts';
import { TransportLayer } from '../src/transport/index.ts';
import type { InboundMessage } from '../src/transport/index.ts';
import { sharedDir } from './support/peers.ts';

const TORTURE = join(sharedDir, 'sip-torture');
/** RFC 4475 §3.1.1, §3.2, §3.3 and §3.4: messages that parse. */
const VALID = [
  'wsinv', 'intmeth', 'esc01', 'escnull', 'esc02', 'lwsdisp', 'longreq', 'dblreq', 'semiuri',
  'transports', 'mpart01', 'unreason', 'noreason', 'badbranch', 'insuf', 'unkscm', 'novelsc',
  'unksm2', 'bext01', 'invut', 'regaut01', 'multi01', 'mcl01', 'bcast', 'zeromf', 'cparam01',
  'cparam02', 'regescrt', 'sdp01', 'inv2543',
]; // prettier-ignore
/** RFC 4475 §3.1.2: messages that must be rejected (the responses among them are dropped). */
const INVALID = [
  'badinv01', 'clerr', 'ncl', 'scalar02', 'scalarlg', 'quotbal', 'ltgtruri', 'lwsruri',
  'lwsstart', 'trws', 'escruri', 'baddate', 'regbadct', 'badaspec', 'baddn', 'badvers',
  'mismatch01', 'mismatch02', 'bigcode',
]; // prettier-ignore
/** §3.3 messages with a missing mandatory header: the transport cannot hand them up either. */
const MISSING_HEADERS = new Set(['insuf']);

const transport = new TransportLayer();
const raw = createSocket('udp4');
after(async () => {
  await transport.close();
  await new Promise<void>((r) => raw.close(() => r()));
});

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('RFC 4475: valid messages handed up, invalid requests answered 400, never a crash', async () => {
  const end = await transport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
  const seen: InboundMessage[] = [];
  transport.onMessage((m) => seen.push(m));
  const replies: string[] = [];
  raw.on('message', (d) => replies.push(d.toString('latin1')));
  const errors: Error[] = [];
  transport.onError((e) => errors.push(e));

  const send = async (name: string): Promise<void> => {
    const before = transport.stats.received;
    raw.send(readFileSync(join(TORTURE, `${name}.dat`)), end.port, '127.0.0.1');
    await until(`${name} received`, () => transport.stats.received > before);
  };

  for (const name of VALID) {
    const count = seen.length;
    const answered = replies.length;
    await send(name);
    if (MISSING_HEADERS.has(name)) {
      await until(`400 for ${name}`, () => replies.length === answered + 1);
      assert.match(replies[answered] ?? '', /^SIP\/2\.0 400 \S/, name);
      continue;
    }
    assert.equal(seen.length, count + 1, `${name} handed up`);
  }
  for (const name of INVALID) {
    const count = seen.length;
    const answered = replies.length;
    const malformed = transport.stats.malformed;
    await send(name);
    assert.equal(transport.stats.malformed, malformed + 1, `${name} counted as malformed`);
    assert.equal(seen.length, count, `${name} not handed up`);
    const isResponse = readFileSync(join(TORTURE, `${name}.dat`), 'latin1').startsWith('SIP/');
    if (isResponse) continue; // an invalid response (bigcode, scalarlg): dropped, nobody to answer
    await until(`400 for ${name}`, () => replies.length === answered + 1);
    const status = (replies[answered] ?? '').split('\r\n')[0] ?? '';
    assert.match(status, /^SIP\/2\.0 400 \S.+$/, `${name}: ${status}`);
  }
  // Still alive: a plain request goes through.
  const count = seen.length;
  raw.send(
    'OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKok\r\n' +
      'From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: ok\r\nCSeq: 1 OPTIONS\r\n' +
      'Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n',
    end.port,
    '127.0.0.1',
  );
  await until('a good request', () => seen.length === count + 1);
  assert.ok(seen.at(-1)?.message instanceof SipRequest);
  assert.deepEqual(errors, []);
});
