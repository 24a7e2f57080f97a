import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatVia, parseVia } from '../sip/index.ts';
import { TransportLayer } from '../transport/index.ts';
import { LocalIdentity, textHash40 } from './local-identity.ts';

describe('LocalIdentity.ownVia', () => {
  const cases: Array<{ name: string; listen: string; to: string; rport: boolean }> = [
    { name: 'IPv4 with rport', listen: '127.0.0.1', to: '127.0.0.1', rport: true },
    { name: 'IPv4 without rport', listen: '127.0.0.1', to: '127.0.0.1', rport: false },
    { name: 'IPv6', listen: '::1', to: '::1', rport: true },
  ];
  for (const c of cases) {
    it(`is what parsing its own text gives (${c.name})`, async () => {
      const transport = new TransportLayer({ rport: c.rport });
      try {
        const local = await transport.listen({ protocol: 'udp', address: c.listen, port: 0 });
        const identity = new LocalIdentity('example.com', transport);
        const via = identity.ownVia({ protocol: 'udp', address: c.to, port: 5060 }, 'z9hG4bKown1');
        assert.deepEqual(parseVia(formatVia(via)), via);
        assert.equal(via.branch, 'z9hG4bKown1');
        assert.equal(via.port, local.port);
        assert.equal(via.rport, c.rport ? null : undefined);
      } finally {
        await transport.close();
      }
    });
  }
});

describe('textHash40 (the loop hash)', () => {
  it('is 10 hex digits, the same for the same text, and tells 200,000 texts apart', () => {
    assert.match(textHash40('sip:1000@example.com|a|b|c@d|1'), /^[0-9a-f]{10}$/);
    assert.equal(textHash40('sip:x@y|1'), textHash40('sip:x@y|1'));
    const seen = new Set<string>();
    // Texts that differ by one character, as two requests of one call do (CSeq, a tag).
    for (let i = 0; i < 200_000; i++)
      seen.add(textHash40(`sip:1000@example.com|ft|tt|call-${i}|${i % 7}`));
    assert.equal(seen.size, 200_000);
  });
});
