import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSdp } from '../media/index.ts';
import { rewriteSdp, sdpMediaEndpoints } from './sdp-rewrite.ts';

const crlf = (lines: string[]) => lines.join('\r\n') + '\r\n';

const SESSION_LEVEL_C = crlf([
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=rtcp:49171',
  'a=sendrecv',
]);

test('session-level c= and the m= port point at the relay; o= and the rest are kept', () => {
  const out = rewriteSdp(SESSION_LEVEL_C, { address: '203.0.113.5', ports: [20000] });
  assert.equal(
    out,
    crlf([
      'v=0',
      'o=alice 2890844526 2890844526 IN IP4 192.0.2.10',
      's=-',
      'c=IN IP4 203.0.113.5',
      't=0 0',
      'm=audio 20000 RTP/AVP 0 8 101',
      'a=rtpmap:101 telephone-event/8000',
      'a=fmtp:101 0-15',
      'a=rtcp:20001',
      'a=sendrecv',
    ]),
  );
  const [e] = sdpMediaEndpoints(out);
  assert.equal(e!.port, 20000);
  assert.equal(e!.address, '203.0.113.5');
  assert.equal(e!.rtcpPort, 20001);
});

test('endpoints: addresses, a=rtcp with its own address, rtcp-mux, codecs, port 0', () => {
  const text = crlf([
    'v=0',
    'o=- 1 1 IN IP4 192.0.2.1',
    's=-',
    'c=IN IP4 192.0.2.1',
    't=0 0',
    'm=audio 4000 RTP/AVP 8 101',
    'a=rtpmap:101 telephone-event/8000',
    'a=rtcp:4005 IN IP4 192.0.2.99',
    'm=video 0 RTP/AVP 96',
    'm=audio 5000 RTP/AVP 0',
    'c=IN IP4 198.51.100.7',
    'a=rtcp-mux',
  ]);
  const [a, v, b] = sdpMediaEndpoints(text);
  assert.deepEqual(
    [a!.port, a!.address, a!.rtcpPort, a!.rtcpAddress, a!.rtcpMux],
    [4000, '192.0.2.1', 4005, '192.0.2.99', false],
  );
  assert.deepEqual(
    a!.codecs.map((c) => [c.payloadType, c.encoding, c.clockRate]),
    [
      [8, 'PCMA', 8000],
      [101, 'telephone-event', 8000],
    ],
  );
  assert.equal(v!.port, 0);
  assert.deepEqual(
    [b!.port, b!.address, b!.rtcpPort, b!.rtcpMux, b!.type],
    [5000, '198.51.100.7', 5001, true, 'audio'],
  );
});

test('several m= lines, media-level c=, a port-0 stream left alone, a=rtcp with address', () => {
  const text = crlf([
    'v=0',
    'o=- 7 7 IN IP4 192.0.2.1',
    's=-',
    't=0 0',
    'm=audio 4000 RTP/AVP 0',
    'c=IN IP4 192.0.2.1',
    'a=rtcp:4001 IN IP4 192.0.2.1',
    'm=video 0 RTP/AVP 96',
    'c=IN IP4 192.0.2.1',
    'm=audio 6000/2 RTP/AVP 8',
    'c=IN IP4 192.0.2.2',
    'b=AS:64',
    'a=ptime:20',
  ]);
  const out = rewriteSdp(text, { address: '10.0.0.1', ports: [20010, 20012, 20014] });
  assert.equal(
    out,
    crlf([
      'v=0',
      'o=- 7 7 IN IP4 192.0.2.1',
      's=-',
      't=0 0',
      'm=audio 20010 RTP/AVP 0',
      'c=IN IP4 10.0.0.1',
      'a=rtcp:20011 IN IP4 10.0.0.1',
      'm=video 0 RTP/AVP 96',
      'c=IN IP4 192.0.2.1',
      'm=audio 20014/2 RTP/AVP 8',
      'c=IN IP4 10.0.0.1',
      'b=AS:64',
      'a=ptime:20',
    ]),
  );
  // Still valid SDP for our own parser.
  assert.equal(parseSdp(out).media.length, 3);
});

test('IPv6: an IP6 description rewritten to an IPv6 relay, and IPv4 to IPv6', () => {
  const v6 = [
    'v=0',
    'o=- 1 1 IN IP6 2001:db8::1',
    's=-',
    'c=IN IP6 2001:db8::1',
    't=0 0',
    'm=audio 7000 RTP/AVP 0',
  ].join('\n');
  const out = rewriteSdp(v6, { address: '2001:db8::ff', ports: [20100] });
  assert.equal(
    out,
    [
      'v=0',
      'o=- 1 1 IN IP6 2001:db8::1',
      's=-',
      'c=IN IP6 2001:db8::ff',
      't=0 0',
      'm=audio 20100 RTP/AVP 0',
    ].join('\n'),
    'LF line ends and the missing final line end are kept',
  );
  const [e] = sdpMediaEndpoints(out);
  assert.equal(e!.addressType, 'IP6');
  assert.equal(e!.address, '2001:db8::ff');

  const fromV4 = rewriteSdp(SESSION_LEVEL_C, { address: '::1', ports: [20102] });
  assert.match(fromV4, /\r\nc=IN IP6 ::1\r\n/);
  assert.match(fromV4, /\r\na=rtcp:20103\r\n/);
});

test('hold with c=0.0.0.0 keeps the unspecified address; ports not given are left alone', () => {
  const text = crlf(['v=0', 'o=- 2 3 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 0.0.0.0', 't=0 0']);
  const hold = text + crlf(['m=audio 4000 RTP/AVP 0', 'a=sendonly']);
  const out = rewriteSdp(hold, { address: '10.0.0.1', ports: [20000] });
  assert.match(out, /\r\nc=IN IP4 0\.0\.0\.0\r\n/);
  assert.match(out, /\r\nm=audio 20000 RTP\/AVP 0\r\n/);
  assert.equal(rewriteSdp(hold, { address: '10.0.0.1', ports: [] }), hold);
});

test('a relayed stream with no c= anywhere gets one before its b=/a= lines', () => {
  const text = crlf(['v=0', 'o=- 2 3 IN IP4 192.0.2.1', 's=-', 't=0 0']);
  const out = rewriteSdp(text + crlf(['m=audio 4000 RTP/AVP 0', 'a=ptime:20']), {
    address: '10.0.0.1',
    ports: [20000],
  });
  assert.match(out, /m=audio 20000 RTP\/AVP 0\r\nc=IN IP4 10\.0\.0\.1\r\na=ptime:20\r\n$/);
});

test('a relay address that is not an IP literal is refused', () => {
  assert.throws(
    () => rewriteSdp(SESSION_LEVEL_C, { address: 'relay.example', ports: [1] }),
    TypeError,
  );
});
