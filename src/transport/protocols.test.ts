import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  defaultPort,
  isReliableProtocol,
  PROTOCOL_NAMES,
  PROTOCOLS,
  protocolForNaptr,
  protocolForUri,
  protocolFromToken,
  uriScheme,
  uriTransportParam,
} from './protocols.ts';

// Two defaultPort functions once disagreed: the transport layer's said 80/443 for ws/wss, the
// server locator's 5060/5061. RFC 7118 §3 runs SIP over WebSocket on RFC 6455's ports, so a
// `sip:host;transport=ws` with no port and no SRV record is reached on 80 (443 for sips:).
test('default ports: 5060 for udp and tcp, 5061 for tls (RFC 3261 §19.1.2), 80 and 443 for ws and wss (RFC 7118 §3)', () => {
  assert.deepEqual(
    PROTOCOL_NAMES.map((p) => [p, defaultPort(p)]),
    [
      ['udp', 5060],
      ['tcp', 5060],
      ['tls', 5061],
      ['ws', 80],
      ['wss', 443],
    ],
  );
});

test('only UDP is unreliable; tls and wss are the secure ones', () => {
  assert.deepEqual(
    PROTOCOL_NAMES.filter((p) => !isReliableProtocol(p)),
    ['udp'],
  );
  assert.deepEqual(
    PROTOCOL_NAMES.filter((p) => PROTOCOLS[p].secure),
    ['tls', 'wss'],
  );
});

test('Via transport tokens map to protocols; unknown ones do not', () => {
  assert.equal(protocolFromToken('UDP'), 'udp');
  assert.equal(protocolFromToken('WSS'), 'wss');
  assert.equal(protocolFromToken('SCTP'), undefined);
  for (const p of PROTOCOL_NAMES) assert.equal(protocolFromToken(PROTOCOLS[p].viaTransport), p);
});

test('URI transport parameters: tcp and ws are secured by sips: (RFC 3261 §26.2.2, RFC 7118 §5.2)', () => {
  assert.equal(protocolForUri('udp', false), 'udp');
  assert.equal(protocolForUri('TCP', false), 'tcp');
  assert.equal(protocolForUri('tcp', true), 'tls');
  assert.equal(protocolForUri('ws', false), 'ws');
  assert.equal(protocolForUri('ws', true), 'wss');
  assert.equal(protocolForUri('tls', false), 'tls', 'deprecated transport=tls is still read');
  assert.equal(protocolForUri('wss', false), 'wss', 'the common (non-standard) transport=wss');
  assert.equal(protocolForUri('sctp', false), undefined);
  // Every protocol written back into a URI reads back as itself.
  for (const p of PROTOCOL_NAMES) {
    assert.equal(protocolForUri(uriTransportParam(p), uriScheme(p) === 'sips'), p);
  }
});

test('NAPTR services (RFC 3263 §4.1, RFC 7118 §10) and SRV services', () => {
  assert.equal(protocolForNaptr('SIP+D2U'), 'udp');
  assert.equal(protocolForNaptr('sips+d2t'), 'tls');
  assert.equal(protocolForNaptr('SIPS+D2W'), 'wss');
  assert.equal(protocolForNaptr('SIP+D2S'), undefined, 'SCTP is not carried here');
  assert.deepEqual(
    PROTOCOL_NAMES.map((p) => PROTOCOLS[p].srvService),
    ['_sip._udp', '_sip._tcp', '_sips._tcp', '_sip._ws', '_sips._ws'],
  );
});
