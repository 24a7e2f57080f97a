// Issue 13 item 5, the TCP side: a phone registered over TCP through node a is reachable only
// over that connection. When a goes away the flow dies with it; the phone registers again
// through node b (a phone doing RFC 5626 flow failover does this by itself; the project's own
// user agent has one server, so a second agent on the same phone address stands in for it) and
// is reachable again from any node, while the dead flow is not tried once a's heartbeat expired.
// Two in-process nodes on one real redis-server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserAgent } from '../src/ua/index.ts';
import { startTwoNodes } from './support/stores.ts';

const DOMAIN = 'flow.test';
const USERS = [
  { user: '2002', password: 'phone-2002' },
  { user: '1001', password: 'caller-1001' },
];
const DEAD_AFTER_S = 3;

test('a TCP phone whose node died registers through another and is reachable again', async (t) => {
  const nodes = await startTwoNodes(t, {
    domain: DOMAIN,
    users: USERS,
    deadAfterSeconds: DEAD_AFTER_S,
  });
  if (!nodes) return;
  const { a, b } = nodes;
  const phone = (server: string) => {
    const ua = new UserAgent({
      uri: `sip:2002@${DOMAIN}`,
      password: 'phone-2002',
      server,
      listen: 'tcp:127.0.0.3:0',
    });
    t.after(() => ua.stop());
    return ua;
  };

  const first = phone(`tcp:127.0.0.1:${a.port}`);
  await first.start();
  assert.equal((await first.register(300)).status, 200);
  await a.server.stop(); // the node and its connection to the phone are gone
  const lostAt = Date.now();

  const again = phone(`tcp:127.0.0.2:${b.port}`);
  await again.start();
  again.on('invite', (incoming) => void incoming.accept({ body: 'v=0\r\n' }));
  assert.equal((await again.register(300)).status, 200);
  const bindings = await b.server.stores.locations.lookup(`sip:2002@${DOMAIN}`, Date.now());
  assert.deepEqual(bindings.map((x) => x.flow.node).sort(), ['a', 'b']);

  // Once a's heartbeat has expired its flow is not tried: the call goes to the new binding only.
  await new Promise((r) =>
    setTimeout(r, Math.max(0, DEAD_AFTER_S * 1000 + 1500 - (Date.now() - lostAt))),
  );
  const caller = new UserAgent({
    uri: `sip:1001@${DOMAIN}`,
    password: 'caller-1001',
    server: `udp:127.0.0.2:${b.port}`,
    listen: 'udp:127.0.0.2:0',
  });
  await caller.start();
  t.after(() => caller.stop());
  const asked = Date.now();
  const call = await caller.invite(`sip:2002@${DOMAIN}`, { body: 'v=0\r\n' });
  assert.ok(Date.now() - asked < 2000, `answered after ${Date.now() - asked} ms`);
  assert.equal(await call.bye(), 200);
  // b's log of the call: the caller's INVITE, and one INVITE sent over the phone's new
  // connection with b (none toward a, whose flow is dead).
  const fresh = bindings.find((x) => x.flow.node === 'b')!;
  const logged = b.server.callServer.calls.list().find((c) => c.callId === call.callId);
  assert.deepEqual(
    logged?.messages.filter((m) => m.label === 'INVITE').map((m) => m.to),
    [`udp:127.0.0.2:${b.port}`, `tcp:${fresh.target.address}:${fresh.target.port}`],
  );
  const [cdr] = await b.server.stores.cdrs.listCdrs({ limit: 1 });
  assert.equal(cdr?.finalStatus, 200);
  assert.equal(cdr?.node, 'b');
});
