// When Redis (the live state of a cluster) goes away, a node answers at once instead of holding
// requests until it returns: a REGISTER gets 500 with Retry-After within a second, and the node
// serves again as soon as Redis is back (node-redis reconnects by itself). Nothing is mocked: a
// real redis-server is stopped and started again on the same port under a running server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../src/server/start-server.ts';
import { UserAgent } from '../src/ua/index.ts';
import { RegistrationError } from '../src/ua/registration.ts';
import { freePort } from './support/ports.ts';
import { startRedis } from './support/redis-server.ts';

const DOMAIN = 'outage.test';
const PASSWORD = 'pw-outage-1000';

test('Redis down: REGISTER is answered 500 at once; back up: the node serves again', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sip = await freePort();
  const server = await startServer(
    {
      domain: DOMAIN,
      listen: [{ transport: 'udp', address: '127.0.0.1', port: sip }],
      http: { port: 0 },
      store: { records: `sqlite:${join(dir, 'o.db')}`, live: redis.url },
      cluster: { node: 'solo' },
      users: [{ user: '1000', password: PASSWORD }],
      log: { level: 'silent' },
    },
    {},
  );
  t.after(() => server.stop());
  const phone = new UserAgent({
    uri: `sip:1000@${DOMAIN}`,
    password: PASSWORD,
    server: `udp:127.0.0.1:${sip}`,
    listen: 'udp:127.0.0.1:0',
  });
  await phone.start();
  t.after(() => phone.stop());
  assert.equal((await phone.register(300)).status, 200);

  await redis.stop();
  const asked = Date.now();
  const refused = await phone.register(300).then(
    (res) => res,
    (err: unknown) => {
      assert.ok(err instanceof RegistrationError, String(err));
      return err.response;
    },
  );
  const waited = Date.now() - asked;
  assert.equal(refused?.status, 500, `got ${refused?.status} ${refused?.reason}`);
  assert.equal(refused?.get('Retry-After'), '5');
  assert.ok(waited < 1000, `the 500 took ${waited} ms`);

  const back = await startRedis(t, { port: redis.port });
  assert.ok(back);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await phone.register(300).catch((err: unknown) => err as Error);
    if (!(res instanceof Error) && res.status === 200) break;
    if (Date.now() > deadline) assert.fail(`no 200 within 15 s of Redis returning: ${String(res)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  // The binding written after the outage is in the new Redis: the lookup path works again.
  const bindings = await server.stores.locations.lookup(`sip:1000@${DOMAIN}`, Date.now());
  assert.equal(bindings.length, 1);
});
