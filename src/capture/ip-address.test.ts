import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipv4ToString, ipv6ToString } from './ip-address.ts';
import { ipv4Bytes, ipv6Bytes } from './packet-builder.ts';

test('IPv4 dotted form, also from the cache', () => {
  for (const a of ['0.0.0.0', '10.0.0.1', '255.255.255.255', '192.168.1.200']) {
    assert.equal(ipv4ToString(ipv4Bytes(a), 0), a);
    assert.equal(ipv4ToString(Buffer.concat([Buffer.alloc(3), ipv4Bytes(a)]), 3), a);
  }
});

test('IPv6 canonical form (RFC 5952 §4)', () => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['2001:DB8:AAAA:BBBB:CCCC:DDDD:EEEE:FFFF', '2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff'],
    ['::ffff:192.0.2.128', '::ffff:192.0.2.128'],
  ];
  for (const [input, want] of cases) assert.equal(ipv6ToString(ipv6Bytes(input), 0), want, input);
});
