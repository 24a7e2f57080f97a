import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSessionMedia, readSessionMediaFully, scanCommonSdp } from './session-media.ts';

const offer = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 10.0.0.1',
  's=-',
  'c=IN IP4 10.0.0.1',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=sendrecv',
  '',
].join('\r\n');

/** Plain bodies the quick scanner must read exactly as the full parser does. */
const plain: Record<string, string> = {
  offer,
  ipv6: offer.replace(/IN IP4 10\.0\.0\.1/g, 'IN IP6 2001:db8::1'),
  'media-level c= and direction': [
    'v=0',
    'o=- 1 1 IN IP4 192.0.2.1',
    's=call',
    't=0 0',
    'a=sendonly',
    'm=audio 4000 RTP/AVP 8',
    'c=IN IP4 192.0.2.7',
    'm=video 0 RTP/AVP 96',
    'c=IN IP4 192.0.2.7',
    'm=video 5002 RTP/AVP 96 97',
    'c=IN IP4 192.0.2.8',
    'a=rtpmap:96 H264/90000',
    'a=recvonly',
  ].join('\n'),
  'no c= anywhere':
    'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 18\r\n',
  'no media': 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n',
  'unknown static and dynamic types': offer.replace('0 8 101', '0 8 101 34 99 x'),
  'stereo opus': offer.replace(
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:0 PCMU/8000\r\na=rtpmap:99 opus/48000/2',
  ),
};

/** Bodies it leaves to the full parser (which then decides). */
const unusual: Record<string, string> = {
  'multicast TTL': offer.replace('c=IN IP4 10.0.0.1', 'c=IN IP4 224.2.1.1/127'),
  'port count': offer.replace('m=audio 49170', 'm=audio 49170/2'),
  'no v= first': offer.replace('v=0\r\n', ''),
  'not SDP': 'hello world',
  'short o=': offer.replace('o=alice 2890844526 2890844526 IN IP4 10.0.0.1', 'o=alice 1'),
  'rtpmap without rate': offer.replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 PCMU'),
  'bad line': offer.replace('s=-', 'S=-'),
};

test('the quick SDP scan reads plain bodies exactly as the full parser', () => {
  for (const [name, body] of Object.entries(plain)) {
    const quick = scanCommonSdp(body);
    assert.ok(quick, `${name}: the scanner gave up`);
    assert.deepEqual(quick, readSessionMediaFully(body), name);
  }
  assert.equal(
    scanCommonSdp(plain['media-level c= and direction']!)?.summary,
    'SDP PCMA 192.0.2.7:4000 sendonly; video rejected; video H264,PT97 192.0.2.8:5002 recvonly',
  );
});

test('unusual SDP goes to the full parser, with the same answer as before', () => {
  for (const [name, body] of Object.entries(unusual)) {
    assert.equal(scanCommonSdp(body), undefined, name);
    assert.deepEqual(readSessionMedia(body), readSessionMediaFully(body), name);
  }
  assert.equal(readSessionMedia('hello world'), undefined);
  assert.equal(readSessionMedia(unusual['multicast TTL']!)?.endpoints[0]?.address, '224.2.1.1');
});
