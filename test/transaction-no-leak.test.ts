// NO LEAK: 100,000 transactions — 50,000 client transactions and the 50,000 server
// transactions they create (non-INVITE pairs, INVITEs answered 486 — ACKed by the client
// transaction — and INVITEs answered 200 — RFC 6026 Accepted on both sides) between two
// TransactionLayers over real UDP on 127.0.0.1, with short timers. Afterwards both transaction
// tables must be empty, no timer may be left, and the heap must come back near its baseline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createHook } from 'node:async_hooks';
import { createResponse, newBranch, SipRequest } from '../src/sip/index.ts';
import { TransportLayer } from '../src/transport/index.ts';
import type { Endpoint } from '../src/transport/index.ts';
import { TransactionLayer } from '../src/transaction/index.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Client transactions; each makes one server transaction on the far side. */
const TOTAL = Number(process.env.NO_LEAK_TOTAL ?? 50_000);
const WARMUP = 2_000;
/** Transactions run with a hook on every timer. */
const WATCHED = 2_000;
/** Transactions in flight at once. */
const WINDOW = 16;
/** Short timers: F, J, L, M = 64*T1 = 1.6 s; K, I = T4; D. */
const TIMERS = { T1: 25, T2: 100, T4: 5, timerD: 5, trying100: 100 };
/** Heap allowed above the baseline after everything ended (bytes). */
const HEAP_SLACK = 16 * 1024 * 1024;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

async function drained(layers: TransactionLayer[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (layers.some((l) => l.size > 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('100k transactions (50k client + 50k server) over UDP leave no transaction, timer or heap growth behind', async () => {
  await noLeak('messages', TOTAL);
});

// The server side as a proxy keeps it: settled transactions as rows of the layer's settled table
// (settled-table.ts), which must end as the transactions did.
test("retain 'minimum' on the server side: its settled rows end too, no timer or heap growth left", async () => {
  await noLeak('minimum', Math.round(TOTAL / 5));
});

async function noLeak(retain: 'messages' | 'minimum', TOTAL: number): Promise<void> {
  const clientTransport = new TransportLayer();
  const serverTransport = new TransportLayer();
  const client = new TransactionLayer(clientTransport, TIMERS);
  const server = new TransactionLayer(serverTransport, TIMERS, { retain });
  /** The most settled rows the server side held at once (retain 'minimum'). */
  let peakRows = 0;
  try {
    await clientTransport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    const to: Endpoint = await serverTransport.listen({
      protocol: 'udp',
      address: '127.0.0.1',
      port: 0,
    });
    server.onRequest((req, tx) => {
      if (!tx) return; // the ACK for a 2xx
      const status = req.method === 'INVITE' ? (req.cseq.seq % 2 === 0 ? 200 : 486) : 200;
      tx.respond(createResponse(req, status, undefined, { toTag: 'uas' }));
      peakRows = Math.max(peakRows, server.settledSize);
    });

    let finals = 0;
    let failures = 0;
    let terminated = 0;
    const run = (count: number): Promise<void> =>
      new Promise((resolve) => {
        let started = 0;
        let done = 0;
        // A slot is free again at the final response (or failure); the transaction itself lives
        // on in Completed / Accepted until its timer ends it.
        const finish = (): void => {
          done++;
          if (done === count) resolve();
          else next();
        };
        const next = (): void => {
          if (started >= count) return;
          const n = started++;
          const method = n % 5 === 0 ? 'INVITE' : 'OPTIONS';
          const req = new SipRequest(method, `sip:uas@127.0.0.1:${to.port}`, [
            ['Max-Forwards', '70'],
            ['From', `<sip:uac@127.0.0.1>;tag=${n}`],
            ['To', `<sip:uas@127.0.0.1:${to.port}>`],
            ['Call-ID', `${n}-${newBranch()}`],
            ['CSeq', `${(n / 5) | 0} ${method}`],
          ]);
          let answered = false;
          client.sendRequest(req, to, {
            onFinal: (res) => {
              if (res.status === 200 && method === 'INVITE') {
                // the TU's ACK for a 2xx: outside any transaction
                const ack = new SipRequest('ACK', req.uri, [
                  ['Max-Forwards', '70'],
                  ['From', req.get('From') as string],
                  ['To', res.get('To') as string],
                  ['Call-ID', req.callId],
                  ['CSeq', `${req.cseq.seq} ACK`],
                ]);
                client.sendStateless(ack, to).catch(() => undefined);
              }
              if (answered) return; // a retransmitted 2xx in Accepted
              answered = true;
              finals++;
              finish();
            },
            onTimeout: () => {
              failures++;
              finish();
            },
            onTransportError: () => {
              failures++;
              finish();
            },
            onTerminated: () => {
              terminated++;
            },
          });
        };
        for (let i = 0; i < WINDOW; i++) next();
      });

    await run(WARMUP);
    await drained([client, server]);
    const baseline = heapAfterGc();
    const t0 = Date.now();
    await run(TOTAL);
    await drained([client, server]);
    const elapsed = (Date.now() - t0) / 1000;
    const heap = heapAfterGc();

    // One more short run with every timer watched: each one started must have fired or been
    // cleared once the tables are empty (unref'd timers do not show in getActiveResourcesInfo).
    const liveTimers = new Set<number>();
    let timersSeen = 0;
    const hook = createHook({
      init(id, type) {
        if (type !== 'Timeout') return;
        timersSeen++;
        liveTimers.add(id);
      },
      destroy(id) {
        liveTimers.delete(id);
      },
    });
    hook.enable();
    await run(WATCHED);
    await drained([client, server]);
    await new Promise((r) => setImmediate(r));
    hook.disable();
    const watchedSeconds = (Date.now() - t0) / 1000 - elapsed;
    const growth = heap - baseline;
    console.log(
      `# retain '${retain}' (peak settled rows ${peakRows}): ${TOTAL} client + ${TOTAL} server transactions in ${elapsed.toFixed(1)} s (${Math.round(TOTAL / elapsed)}/s), ` +
        `heap ${(baseline / 1e6).toFixed(1)} MB -> ${(heap / 1e6).toFixed(1)} MB, ` +
        `retransmissions ${client.stats.retransmissions}/${server.stats.retransmissions}, ` +
        `timeouts ${failures}; watched run ${watchedSeconds.toFixed(1)} s`,
    );
    assert.equal(client.size, 0, 'client transaction table empty');
    assert.equal(server.size, 0, 'server transaction table empty');
    assert.equal(client.stats.clientCreated, WARMUP + TOTAL + WATCHED);
    assert.ok(
      server.stats.serverCreated >= WARMUP + TOTAL + WATCHED,
      `server saw ${server.stats.serverCreated}`,
    );
    assert.ok(failures <= TOTAL / 1000, `too many timeouts: ${failures}`);
    assert.equal(finals + failures, WARMUP + TOTAL + WATCHED);
    assert.equal(terminated, WARMUP + TOTAL + WATCHED, 'every client transaction ended');
    assert.ok(timersSeen >= 2 * WATCHED, `the hook saw only ${timersSeen} timers`);
    assert.equal(liveTimers.size, 0, `${liveTimers.size} timers left running`);
    assert.ok(growth < HEAP_SLACK, `heap grew by ${(growth / 1e6).toFixed(1)} MB`);
    if (retain === 'minimum') {
      // 200 to OPTIONS: Completed rows; 200 to INVITE: Accepted rows; 486: a transaction.
      assert.ok(peakRows > 100, `the server held at most ${peakRows} settled rows`);
      assert.equal(server.settledSize, 0, 'every settled row ended');
    }
  } finally {
    client.close();
    server.close();
    await clientTransport.close();
    await serverTransport.close();
  }
}
