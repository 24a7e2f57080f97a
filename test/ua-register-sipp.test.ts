// REGISTER through an outbound proxy against a SIPp registrar scenario that verifies the digest
// credentials itself: challenge, stale nonce, refresh before expiry, removal; and a wrong
// password giving up after one answer per challenge.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { needTool, repoRoot } from './support/peers.ts';
import { freePort, Peer, scratchDir, sippErrors } from './ua-sipp-peer.ts';
import { RegistrationError, UserAgent } from '../src/ua/index.ts';

const scenario = join(repoRoot, 'bench', 'scenarios', 'register-auth.xml');
const started: Peer[] = [];
const agents: UserAgent[] = [];
after(async () => {
  for (const p of started) p.kill();
  for (const ua of agents) await ua.stop();
});

async function registrar(sippPath: string): Promise<{ peer: Peer; port: number; dir: string }> {
  const dir = scratchDir();
  const port = await freePort();
  const peer = new Peer(
    sippPath,
    [
      '-sf',
      scenario,
      '-i',
      '127.0.0.1',
      '-p',
      String(port),
      '-m',
      '1',
      '-nostdin',
      '-trace_err',
      '-timeout',
      '20s',
    ],
    dir,
  );
  started.push(peer);
  await new Promise((r) => setTimeout(r, 300));
  return { peer, port, dir };
}

test('register with digest and a stale nonce, refresh before expiry, unregister', async (t) => {
  const sippPath = needTool(t, 'sipp', 'sip-tester');
  if (!sippPath) return;
  const { peer, port, dir } = await registrar(sippPath);
  const ua = new UserAgent({
    uri: 'sip:alice@example.test',
    password: 'wonderland',
    server: `udp:127.0.0.1:${port}`,
  });
  agents.push(ua);
  await ua.start();
  const granted: number[] = [];
  ua.on('registered', (r) => granted.push(r.expires));
  const res = await ua.register(60);
  assert.equal(res.status, 200);
  assert.equal(ua.registered, true);
  // Granted 6 s: the refresh goes out after 1 s (5 s before expiry).
  await new Promise<void>((resolve) => ua.once('registered', () => resolve()));
  assert.deepEqual(granted, [6, 6]);
  const removed = await ua.unregister();
  assert.equal(removed?.status, 200);
  assert.equal(ua.registered, false);
  const done = await peer.finish(10000);
  assert.equal(done.code, 0, sippErrors(dir));
});

test('a wrong password is answered once per challenge, then registration fails', async (t) => {
  const sippPath = needTool(t, 'sipp', 'sip-tester');
  if (!sippPath) return;
  const { port } = await registrar(sippPath);
  const ua = new UserAgent({
    uri: 'sip:alice@example.test',
    password: 'nope',
    server: `udp:127.0.0.1:${port}`,
  });
  agents.push(ua);
  await ua.start();
  await assert.rejects(
    ua.register(),
    (err: unknown) => err instanceof RegistrationError && err.status === 401,
  );
  assert.equal(ua.registered, false);
});
