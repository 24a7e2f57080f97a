// The cases every LocationStore must pass (RFC 3261 §10.3 as stores.ts states it), run by the
// test file of each engine. `open` gives two handles on one fresh, shared store: two nodes'
// connections to Redis, or two connections to one SQLite file; the races go through both.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type {
  BindingChangeRecord,
  BindingFlow,
  BindingTarget,
  ContactUpdate,
  LocationStore,
  RegistrationUpdate,
} from './stores.ts';

export type OpenLocationStores = () => Promise<{ a: LocationStore; b: LocationStore }>;

const AOR = 'sip:1000@example.test';
const UDP: BindingTarget = { protocol: 'udp', address: '192.0.2.10', port: 5062 };
const TCP: BindingTarget = { protocol: 'tcp', address: '2001:db8::7', port: 40123 };
const NODE_A: BindingFlow = { node: 'node-a' };

function update(
  now: number,
  contacts: ContactUpdate[],
  over: Partial<RegistrationUpdate> = {},
): RegistrationUpdate {
  return {
    aor: AOR,
    callId: 'call-1@phone',
    cseq: 1,
    target: UDP,
    flow: NODE_A,
    contacts,
    maxBindings: 10,
    now,
    ...over,
  };
}

const contact = (n: number, expires = 3600, q = 1): ContactUpdate => ({
  contact: `sip:1000@192.0.2.10:${5060 + n}`,
  expires,
  q,
});

const sortChanges = (c: BindingChangeRecord[]) =>
  [...c].sort((x, y) => (x.contact + x.action < y.contact + y.action ? -1 : 1));

export async function locationStoreContract(
  t: TestContext,
  open: OpenLocationStores,
): Promise<void> {
  const withStores = (fn: (a: LocationStore, b: LocationStore) => Promise<void>) => async () => {
    const { a, b } = await open();
    try {
      await fn(a, b);
    } finally {
      await a.close();
      await b.close();
    }
  };

  await t.test(
    'register adds a binding that the other node looks up with every field',
    withStores(async (a, b) => {
      const now = Date.now();
      const out = await a.register(
        update(
          now,
          [{ ...contact(1), q: 0.5, userAgent: 'Phone/1.0', path: ['<sip:edge@192.0.2.1;lr>'] }],
          { target: TCP, flow: { node: 'node-a', connectionId: 'c-17' }, cseq: 7 },
        ),
      );
      assert.ok(out.ok);
      assert.deepEqual(out.changes, [{ action: 'added', contact: contact(1).contact }]);
      const expected = {
        aor: AOR,
        contact: contact(1).contact,
        target: TCP,
        flow: { node: 'node-a', connectionId: 'c-17' },
        q: 0.5,
        expiresAt: now + 3600_000,
        callId: 'call-1@phone',
        cseq: 7,
        userAgent: 'Phone/1.0',
        path: ['<sip:edge@192.0.2.1;lr>'],
      };
      assert.deepEqual(out.bindings, [expected]);
      assert.deepEqual(await b.lookup(AOR, now), [expected]);
      assert.deepEqual(await b.lookup('sip:other@example.test', now), []);
    }),
  );

  await t.test(
    '§10.3 step 7: same Call-ID needs a higher CSeq, else nothing of the request applies',
    withStores(async (a, b) => {
      const now = Date.now();
      assert.ok((await a.register(update(now, [contact(1)], { cseq: 5 }))).ok);
      // The same CSeq again (a retransmission processed twice) and a lower one: refused whole,
      // even the contact the request would have added.
      for (const cseq of [5, 4]) {
        const out = await b.register(update(now + 10, [contact(2), contact(1, 60)], { cseq }));
        assert.deepEqual(out, { ok: false, reason: 'out-of-order' });
      }
      const kept = await a.lookup(AOR, now);
      assert.deepEqual(
        kept.map((x) => [x.contact, x.cseq, x.expiresAt]),
        [[contact(1).contact, 5, now + 3600_000]],
      );
      // A higher CSeq refreshes; another Call-ID (the phone rebooted) may use any CSeq.
      const refreshed = await b.register(update(now + 20, [contact(1, 120)], { cseq: 6 }));
      assert.ok(refreshed.ok);
      assert.deepEqual(refreshed.changes, [{ action: 'refreshed', contact: contact(1).contact }]);
      assert.equal(refreshed.bindings[0]!.expiresAt, now + 20 + 120_000);
      const rebooted = await a.register(
        update(now + 30, [contact(1, 300)], { cseq: 1, callId: 'call-2@phone' }),
      );
      assert.ok(rebooted.ok);
      assert.equal(rebooted.bindings[0]!.callId, 'call-2@phone');
      assert.equal(rebooted.bindings[0]!.cseq, 1);
    }),
  );

  await t.test(
    'Expires 0 removes one binding; removing an unknown contact changes nothing',
    withStores(async (a, b) => {
      const now = Date.now();
      await a.register(update(now, [contact(1), contact(2)], { cseq: 1 }));
      const out = await b.register(update(now, [contact(1, 0), contact(3, 0)], { cseq: 2 }));
      assert.ok(out.ok);
      assert.deepEqual(out.changes, [
        { action: 'removed', contact: contact(1).contact, reason: 'unregistered' },
      ]);
      assert.deepEqual(
        out.bindings.map((x) => x.contact),
        [contact(2).contact],
      );
      assert.deepEqual(
        (await a.lookup(AOR, now)).map((x) => x.contact),
        [contact(2).contact],
      );
    }),
  );

  await t.test(
    'Contact: * removes every binding except one a later request of its Call-ID wrote',
    withStores(async (a, b) => {
      const now = Date.now();
      await a.register(update(now, [contact(1)], { cseq: 9 }));
      await a.register(update(now, [contact(2)], { cseq: 3, callId: 'other@phone' }));
      await a.register(update(now, [contact(3)], { cseq: 2 }));
      // Contact 1 was written by CSeq 9 of the '*' request's own Call-ID (CSeq 8): by a later
      // request, so it stays; contact 2 (another Call-ID) and contact 3 (CSeq 2) go.
      const out = await b.register(update(now, [], { cseq: 8, removeAll: true }));
      assert.ok(out.ok);
      assert.deepEqual(sortChanges(out.changes), [
        { action: 'removed', contact: contact(2).contact, reason: 'unregistered' },
        { action: 'removed', contact: contact(3).contact, reason: 'unregistered' },
      ]);
      assert.deepEqual(
        (await a.lookup(AOR, now)).map((x) => x.contact),
        [contact(1).contact],
      );
    }),
  );

  await t.test(
    'over the cap the bindings closest to expiry make room, never this request’s',
    withStores(async (a, b) => {
      const now = Date.now();
      await a.register(update(now, [contact(1, 600)], { cseq: 1, maxBindings: 2 }));
      await a.register(update(now, [contact(2, 300)], { cseq: 2, maxBindings: 2 }));
      const out = await b.register(
        update(now + 5, [contact(3, 60), contact(4, 60)], { cseq: 3, maxBindings: 2 }),
      );
      assert.ok(out.ok);
      assert.deepEqual(sortChanges(out.changes), [
        { action: 'removed', contact: contact(1).contact, reason: 'over-cap' },
        { action: 'removed', contact: contact(2).contact, reason: 'over-cap' },
        { action: 'added', contact: contact(3).contact },
        { action: 'added', contact: contact(4).contact },
      ]);
      const next = await a.register(
        update(now + 10, [contact(5, 60)], { cseq: 4, maxBindings: 2 }),
      );
      assert.ok(next.ok);
      // 3 and 4 expire together; the tie goes to the contact order.
      assert.deepEqual(next.changes, [
        { action: 'added', contact: contact(5).contact },
        { action: 'removed', contact: contact(3).contact, reason: 'over-cap' },
      ]);
      assert.deepEqual(
        (await b.lookup(AOR, now + 10)).map((x) => x.contact),
        [contact(5).contact, contact(4).contact],
      );
    }),
  );

  await t.test(
    'lookup: highest q first, then the most recently refreshed; expired ones are not returned',
    withStores(async (a, b) => {
      const now = Date.now();
      await a.register(update(now, [contact(1, 3600, 0.5)], { cseq: 1 }));
      await a.register(update(now + 1, [contact(2, 3600, 1)], { cseq: 2 }));
      await a.register(update(now + 2, [contact(3, 3600, 0.5)], { cseq: 3 }));
      await a.register(update(now + 3, [contact(4, 10, 0.5)], { cseq: 4 }));
      assert.deepEqual(
        (await b.lookup(AOR, now + 3)).map((x) => x.contact),
        [contact(2), contact(4), contact(3), contact(1)].map((c) => c.contact),
      );
      // At now + 3 + 10 s contact 4 has expired (expiresAt is exclusive).
      assert.deepEqual(
        (await b.lookup(AOR, now + 3 + 10_000)).map((x) => x.contact),
        [contact(2), contact(3), contact(1)].map((c) => c.contact),
      );
    }),
  );

  await t.test(
    'an expired binding counts for nothing: re-registering it is an add, it takes no cap room',
    withStores(async (a, b) => {
      const now = Date.now();
      await a.register(update(now, [contact(1, 1)], { cseq: 1, maxBindings: 1 }));
      const later = now + 1500;
      const out = await b.register(update(later, [contact(2, 60)], { cseq: 2, maxBindings: 1 }));
      assert.ok(out.ok);
      assert.deepEqual(out.changes, [{ action: 'added', contact: contact(2).contact }]);
      // The same Call-ID and a lower CSeq is not out of order against an expired binding.
      const again = await a.register(update(later, [contact(1, 60)], { cseq: 1, maxBindings: 2 }));
      assert.ok(again.ok);
      assert.deepEqual(again.changes, [{ action: 'added', contact: contact(1).contact }]);
    }),
  );

  await t.test(
    'purgeExpired deletes and returns each expired binding once, across nodes',
    withStores(async (a, b) => {
      const now = Date.now();
      await a.register(update(now, [contact(1, 1), contact(2, 3600)], { cseq: 1 }));
      await a.register(
        update(now, [contact(1, 2)], { cseq: 1, aor: 'sip:2000@example.test', callId: 'x' }),
      );
      const at = now + 2500;
      const first = await b.purgeExpired(at);
      assert.deepEqual(first.map((x) => [x.aor, x.contact]).sort(), [
        ['sip:1000@example.test', contact(1).contact],
        ['sip:2000@example.test', contact(1).contact],
      ]);
      assert.equal(first.find((x) => x.aor === AOR)!.expiresAt, now + 1000);
      assert.deepEqual(await a.purgeExpired(at), []);
      assert.deepEqual(
        (await a.lookup(AOR, now)).map((x) => x.contact),
        [contact(2).contact],
      );
    }),
  );

  await t.test(
    'all() lists the live bindings of every AOR, grouped by AOR, at most limit',
    withStores(async (a, b) => {
      const now = Date.now();
      await a.register(update(now, [contact(1), contact(2, 3600, 0.4)], { cseq: 1 }));
      await a.register(update(now, [contact(3, 1)], { cseq: 2 }));
      await b.register(update(now, [contact(1)], { aor: 'sip:0999@example.test', callId: 'y' }));
      const all = await b.all(now + 2000);
      assert.deepEqual(
        all.map((x) => [x.aor, x.contact]),
        [
          ['sip:0999@example.test', contact(1).contact],
          [AOR, contact(1).contact],
          [AOR, contact(2).contact],
        ],
      );
      assert.equal((await a.all(now, 2)).length, 2);
    }),
  );

  await t.test(
    'AORs and contacts with colons, line breaks and non-ASCII letters are kept apart',
    withStores(async (a, b) => {
      const now = Date.now();
      const odd = ['sip:1:2@x', 'sip:1@x', 'sip:ünï\ncode@x'];
      for (const [i, aor] of odd.entries()) {
        const c = { contact: `sip:${i}:\n:ü@192.0.2.1`, expires: 1, q: 1 };
        assert.ok((await a.register(update(now, [c], { aor, callId: `odd${i}` }))).ok);
      }
      assert.deepEqual(
        (await b.all(now)).map((x) => [x.aor, x.contact]),
        odd.map((aor, i) => [aor, `sip:${i}:\n:ü@192.0.2.1`]).sort(),
      );
      assert.deepEqual(
        (await b.purgeExpired(now + 1000)).map((x) => [x.aor, x.contact]).sort(),
        odd.map((aor, i) => [aor, `sip:${i}:\n:ü@192.0.2.1`]).sort(),
      );
    }),
  );

  await t.test(
    'removeFlow removes the bindings still tied to that connection of that node',
    withStores(async (a, b) => {
      const now = Date.now();
      const flow = { node: 'node-a', connectionId: 'c-1' };
      await a.register(update(now, [contact(1), contact(2)], { cseq: 1, target: TCP, flow }));
      await a.register(
        update(now, [contact(3)], { cseq: 1, callId: 'z', target: TCP, flow: { ...flow } }),
      );
      // Contact 2 moved to another connection before c-1 died; node-b's c-1 is another flow.
      await a.register(
        update(now, [contact(2)], {
          cseq: 2,
          target: TCP,
          flow: { node: 'node-a', connectionId: 'c-2' },
        }),
      );
      assert.equal(await b.removeFlow('node-b', 'c-1'), 0);
      assert.equal(await b.removeFlow('node-a', 'c-1'), 2);
      assert.deepEqual(
        (await a.lookup(AOR, now)).map((x) => [x.contact, x.flow.connectionId]),
        [[contact(2).contact, 'c-2']],
      );
      assert.equal(await a.removeFlow('node-a', 'c-1'), 0);
    }),
  );

  await t.test(
    'race: two nodes register one contact with interleaved CSeqs; the highest wins, one add',
    withStores(async (a, b) => {
      const now = Date.now();
      const cseqs = Array.from({ length: 40 }, (_, i) => i + 1);
      // Interleave: a gets the odd CSeqs, b the even, each in a scrambled order, all at once.
      const scrambled = cseqs.map((c) => (c * 17) % 41); // a permutation of 1..40
      const outcomes = await Promise.all(
        scrambled.map((cseq) =>
          (cseq % 2 ? a : b)
            .register(update(now, [contact(1)], { cseq }))
            .then((out) => ({ cseq, out })),
        ),
      );
      const accepted = outcomes.filter((o) => o.out.ok);
      assert.ok(
        accepted.some((o) => o.cseq === 40),
        'the highest CSeq is always accepted',
      );
      const adds = accepted.flatMap((o) => (o.out.ok ? o.out.changes : []));
      assert.equal(adds.filter((c) => c.action === 'added').length, 1);
      const [bound] = await a.lookup(AOR, now);
      assert.equal(bound!.cseq, 40, 'no accepted lower CSeq overwrote a higher one');
    }),
  );

  await t.test(
    'race: twelve contacts registered at once through two nodes under a cap of 3 leave 3',
    withStores(async (a, b) => {
      const now = Date.now();
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          (i % 2 ? a : b).register(
            update(now + i, [contact(i + 1, 600)], {
              cseq: i + 1,
              callId: `c${i}`,
              maxBindings: 3,
            }),
          ),
        ),
      );
      const changes = outcomes.flatMap((o) => (o.ok ? o.changes : []));
      const added = changes.filter((c) => c.action === 'added').length;
      const dropped = changes.filter((c) => c.action === 'removed').length;
      assert.equal(added, 12);
      assert.equal(added - dropped, 3, 'each binding was dropped once, none twice or never');
      assert.equal((await a.lookup(AOR, now)).length, 3);
      for (const o of outcomes) assert.ok(o.ok && o.bindings.length <= 3);
    }),
  );
}
