import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { LiveFeed } from './live-feed.ts';
import type { ConsoleEvent, LoggedCall } from './console-model.ts';

/** Reads server-sent events from a response body, one ConsoleEvent per data line. */
class EventReader {
  private buffered = '';
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }
  async next(): Promise<ConsoleEvent> {
    for (;;) {
      const end = this.buffered.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffered.slice(0, end);
        this.buffered = this.buffered.slice(end + 2);
        if (block.startsWith('data: ')) return JSON.parse(block.slice(6)) as ConsoleEvent;
        continue; // a comment (keep-alive)
      }
      const { value, done } = await this.reader.read();
      if (done) throw new Error('stream ended');
      this.buffered += this.decoder.decode(value, { stream: true });
    }
  }
  /** The next event of a type, skipping the others. */
  async nextOf<T extends ConsoleEvent['type']>(
    type: T,
  ): Promise<Extract<ConsoleEvent, { type: T }>> {
    for (;;) {
      const e = await this.next();
      if (e.type === type) return e as Extract<ConsoleEvent, { type: T }>;
    }
  }
  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}

test('the live feed: a hello with the calls, state once, calls as they change, a call’s own stream with its messages', async (t) => {
  const call: LoggedCall = {
    callId: 'c1',
    caller: '2001@t',
    callee: '2002@t',
    dialled: '2002',
    start: Date.now(),
    messages: [
      {
        ts: Date.now(),
        from: 'udp:127.0.0.2:5062',
        to: 'udp:127.0.0.1:5060',
        label: 'INVITE',
        raw: 'INVITE sip:2002@t SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n',
      },
    ],
  };
  const feed = new LiveFeed(
    {
      calls: () => [call],
      hasCapture: () => true,
      bindings: () => [],
      bans: () => [],
      trunks: () => [{ name: 'carrier', peers: [] }],
      media: () => [],
      metrics: () => ({
        ts: Date.now(),
        activeCalls: 1,
        registrations: 0,
        invites: 1,
        responses: {},
      }),
    },
    100,
  );
  const server = createServer((req, res) => {
    if (req.url === '/call') feed.subscribeCall(res, call);
    else feed.subscribe(res, false);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    feed.close();
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // No client yet: a message costs nothing and nothing is queued.
  feed.message(call, call.messages[0]!);

  const all = new EventReader((await fetch(`${base}/`)).body!);
  const hello = await all.next();
  assert.equal(hello.type, 'hello');
  assert.deepEqual(
    hello.type === 'hello' && hello.calls.map((c) => [c.callId, c.state, c.capture]),
    [['c1', 'trying', true]],
  );
  assert.deepEqual((await all.nextOf('trunks')).trunks, [{ name: 'carrier', peers: [] }]);
  assert.equal((await all.nextOf('metrics')).sample.activeCalls, 1);

  const one = new EventReader((await fetch(`${base}/call`)).body!);
  const detail = await one.nextOf('detail');
  assert.equal(detail.call.messages.length, 1);

  const ringing = {
    ts: Date.now(),
    from: 'udp:127.0.0.1:5060',
    to: 'udp:127.0.0.2:5062',
    label: '180 Ringing',
    raw: 'SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\n\r\n',
  };
  call.messages.push(ringing);
  const sent = Date.now();
  feed.message(call, ringing);
  const m = await one.nextOf('message');
  assert.deepEqual([m.callId, m.index, m.message.label], ['c1', 1, '180 Ringing']);
  const changed = await all.nextOf('calls');
  assert.deepEqual(
    changed.calls.map((c) => [c.callId, c.state, c.messageCount]),
    [['c1', 'ringing', 2]],
  );
  assert.ok(Date.now() - sent < 1000, 'a change is sent within the flush delay');
  // Only what changed is sent again: the trunks did not.
  const next = await Promise.race([all.nextOf('trunks'), new Promise((r) => setTimeout(r, 350))]);
  assert.equal(next, undefined);
  await Promise.all([all.cancel(), one.cancel()]);
});
