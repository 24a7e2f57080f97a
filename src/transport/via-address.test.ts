import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage, parseVia } from '../sip/index.ts';
import type { SipRequest } from '../sip/index.ts';
import { responseDestination, stampReceived } from './via-address.ts';

function request(via: string): SipRequest {
  return parseMessage(
    `OPTIONS sip:b@example.com SIP/2.0\r\nVia: ${via}\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKsecond\r\n` +
      'From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n' +
      'Content-Length: 0\r\n\r\n',
  ) as SipRequest;
}

const SOURCE = { protocol: 'udp' as const, address: '192.0.2.7', port: 40000 };

test('RFC 3581 §4: rport asked -> received and rport filled, even for the same host', () => {
  const req = request('SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKa;rport');
  assert.ok(stampReceived(req, SOURCE));
  const via = req.topVia;
  assert.equal(via.received, '192.0.2.7');
  assert.equal(via.rport, 40000);
  assert.equal(via.branch, 'z9hG4bKa');
  assert.equal(req.via.length, 2, 'only the top Via changes');
  assert.equal(req.via[1]?.branch, 'z9hG4bKsecond');
  assert.match(
    req.toString(),
    /Via: SIP\/2\.0\/UDP 192\.0\.2\.7:5060;branch=z9hG4bKa;rport=40000;received=192\.0\.2\.7\r\n/,
  );
});

test('§18.2.1: received only when the sent-by host differs; nothing when it matches', () => {
  const same = request('SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKb');
  assert.equal(stampReceived(same, SOURCE), false);
  assert.equal(same.topVia.received, undefined);
  const named = request('SIP/2.0/UDP pc33.example.com;branch=z9hG4bKc');
  assert.ok(stampReceived(named, SOURCE));
  assert.equal(named.topVia.received, '192.0.2.7');
  assert.equal(named.topVia.rport, undefined);
});

test('IPv6 sources: received without brackets, compared without brackets', () => {
  const v6 = { protocol: 'udp' as const, address: '2001:db8::9', port: 5062 };
  const same = request('SIP/2.0/UDP [2001:db8::9]:5062;branch=z9hG4bKd');
  assert.equal(stampReceived(same, v6), false);
  const asked = request('SIP/2.0/UDP [2001:db8::1];branch=z9hG4bKe;rport');
  stampReceived(asked, v6);
  assert.equal(asked.topVia.received, '2001:db8::9');
  assert.deepEqual(responseDestination(asked.topVia), {
    protocol: 'udp',
    address: '2001:db8::9',
    port: 5062,
  });
});

test('§18.2.2 destinations: rport over UDP, sent-by port over TCP, default ports, maddr', () => {
  const v = (text: string) => parseVia(text);
  assert.deepEqual(responseDestination(v('SIP/2.0/UDP h.example;received=192.0.2.1;rport=4000')), {
    protocol: 'udp',
    address: '192.0.2.1',
    port: 4000,
  });
  assert.deepEqual(responseDestination(v('SIP/2.0/UDP h.example;received=192.0.2.1')), {
    protocol: 'udp',
    address: '192.0.2.1',
    port: 5060,
  });
  assert.deepEqual(
    responseDestination(v('SIP/2.0/TCP h.example:5070;received=192.0.2.1;rport=4000')),
    {
      protocol: 'tcp',
      address: '192.0.2.1',
      port: 5070,
    },
  );
  assert.deepEqual(responseDestination(v('SIP/2.0/TLS h.example')), {
    protocol: 'tls',
    address: 'h.example',
    port: 5061,
  });
  assert.deepEqual(
    responseDestination(v('SIP/2.0/UDP h.example;maddr=239.1.1.1;received=192.0.2.1')),
    {
      protocol: 'udp',
      address: '239.1.1.1',
      port: 5060,
    },
  );
  assert.deepEqual(responseDestination(v('SIP/2.0/SCTP h.example:5080'), 'tcp'), {
    protocol: 'tcp',
    address: 'h.example',
    port: 5080,
  });
});

test('no reflection: a received or rport the sender wrote itself is replaced by its source', () => {
  const forged = request('SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKf;received=198.51.100.9');
  assert.ok(stampReceived(forged, SOURCE));
  assert.equal(forged.topVia.received, '192.0.2.7');
  assert.deepEqual(responseDestination(forged.topVia), {
    protocol: 'udp',
    address: '192.0.2.7',
    port: 5060,
  });
  const filled = request('SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKg;rport=9;received=1.2.3.4');
  assert.ok(stampReceived(filled, SOURCE));
  assert.equal(filled.topVia.received, '192.0.2.7');
  assert.equal(filled.topVia.rport, 40000);
});

test('no reflection: maddr is removed unless the policy allows where it leads', () => {
  const third = request('SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bKh;rport;maddr=198.51.100.9');
  assert.ok(stampReceived(third, SOURCE));
  assert.equal(third.topVia.params.maddr, undefined);
  assert.doesNotMatch(third.toString(), /maddr/);
  assert.deepEqual(responseDestination(third.topVia), {
    protocol: 'udp',
    address: '192.0.2.7',
    port: 40000,
  });
  const asked: unknown[] = [];
  const trusted = request('SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bKi;maddr=203.0.113.5');
  stampReceived(trusted, SOURCE, (destination) => {
    asked.push(destination);
    return destination.address === '203.0.113.5';
  });
  assert.deepEqual(asked, [{ protocol: 'udp', address: '203.0.113.5', port: 5062 }]);
  assert.equal(trusted.topVia.params.maddr, '203.0.113.5');
  assert.equal(responseDestination(trusted.topVia)?.address, '203.0.113.5');
});
