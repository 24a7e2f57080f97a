// Regression: two cluster nodes on one call's path wrote the same Record-Route token. A call from
// node b to a phone whose TCP connection node a holds goes b -> a -> phone, and both nodes
// record-route it. The token was an HMAC of the Call-ID and From tag under the cluster's shared
// secret, so both wrote the same one: b took a's Record-Route for its own, stored the phone's
// Contact as its next hop toward the callee, and refused the BYE with 403 ("not this dialog's
// route"). Two in-process nodes on one real redis-server; the phone and the caller are the
// project's own user agents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserAgent } from '../src/ua/index.ts';
import { startTwoNodes } from './support/stores.ts';

const DOMAIN = 'rr.test';
const USERS = [
  { user: '2002', password: 'phone-2002' },
  { user: '1001', password: 'caller-1001' },
];

test('regression: a call through two nodes (b, then a holding the phone over TCP) is hung up with 200, not 403', async (t) => {
  const nodes = await startTwoNodes(t, { domain: DOMAIN, users: USERS, deadAfterSeconds: 3 });
  if (!nodes) return;
  const { a, b } = nodes;

  const phone = new UserAgent({
    uri: `sip:2002@${DOMAIN}`,
    password: 'phone-2002',
    server: `tcp:127.0.0.1:${a.port}`,
    listen: 'tcp:127.0.0.1:0',
  });
  await phone.start();
  t.after(() => phone.stop());
  phone.on('invite', (incoming) => void incoming.accept({ body: 'v=0\r\n' }));
  assert.equal((await phone.register(300)).status, 200);
  // Node b sees the binding in Redis, held by node a over a connection only a has.
  const [binding] = await b.server.stores.locations.lookup(`sip:2002@${DOMAIN}`, Date.now());
  assert.equal(binding?.flow.node, 'a');
  assert.ok(binding?.flow.connectionId);

  const caller = new UserAgent({
    uri: `sip:1001@${DOMAIN}`,
    password: 'caller-1001',
    server: `udp:127.0.0.2:${b.port}`,
    listen: 'udp:127.0.0.2:0',
  });
  await caller.start();
  t.after(() => caller.stop());
  const call = await caller.invite(`sip:2002@${DOMAIN}`, { body: 'v=0\r\n' });
  assert.equal(await call.bye(), 200);
  // The CDR is written once, by b (a only carried the call to its connection).
  const cdrs = await b.server.stores.cdrs.listCdrs({ limit: 10 });
  assert.deepEqual(
    cdrs.map((c) => [c.node, c.finalStatus, c.hungUpBy]),
    [['b', 200, 'caller']],
  );
});
