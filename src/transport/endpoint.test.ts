import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointKey, formatEndpoint, hostForHeader, normalizeAddress } from './endpoint.ts';

test('addresses are normalized for keys: brackets, case, IPv4-mapped IPv6', () => {
  assert.equal(normalizeAddress('[::1]'), '::1');
  assert.equal(normalizeAddress('::FFFF:127.0.0.1'), '127.0.0.1');
  assert.equal(normalizeAddress('Example.COM'), 'example.com');
  assert.equal(
    endpointKey({ protocol: 'tcp', address: '[2001:DB8::1]', port: 5060 }),
    endpointKey({ protocol: 'tcp', address: '2001:db8::1', port: 5060 }),
  );
  assert.notEqual(
    endpointKey({ protocol: 'tcp', address: '127.0.0.1', port: 5060 }),
    endpointKey({ protocol: 'tls', address: '127.0.0.1', port: 5060 }),
  );
});

test('IPv6 hosts get brackets in headers and logs', () => {
  assert.equal(hostForHeader('::1'), '[::1]');
  assert.equal(hostForHeader('[::1]'), '[::1]');
  assert.equal(hostForHeader('10.0.0.1'), '10.0.0.1');
  assert.equal(formatEndpoint({ protocol: 'udp', address: '::1', port: 5060 }), 'udp:[::1]:5060');
});
