// The message mix of the parse benchmark: one basic call (INVITE with SDP, 180, 200 with SDP,
// ACK, BYE) and a REGISTER answering a digest challenge, written the way real phones and
// proxies send them (several Vias, Record-Route, Contact params, Allow/Supported lists).
//
// Every message carries the values each parser must reach, so the bench can check a parser
// before it times it. Content-Length is computed from the body, never typed by hand.

/** The fields every parser in the bench must extract from every message. */
export interface ExpectedFields {
  /** Method of a request, or status code of a response. */
  methodOrStatus: string | number;
  callId: string;
  cseqSeq: number;
  cseqMethod: string;
  topBranch: string;
  fromTag: string;
  /** Body length in bytes. */
  bodyLength: number;
}

export interface BenchMessage {
  name: string;
  /** The whole message, CRLF line ends, ASCII only. */
  text: string;
  expected: ExpectedFields;
}

const CRLF = '\r\n';

/** Joins a start line, header lines and a body into a message with a correct Content-Length. */
function sipMessage(startLine: string, headers: string[], body = ''): string {
  const length = Buffer.byteLength(body, 'utf8');
  return [startLine, ...headers, `Content-Length: ${length}`, '', body].join(CRLF);
}

function sdp(lines: string[]): string {
  return lines.map((l) => l + CRLF).join('');
}

const CALL_ID = '3848276298220188511@alice-pc.atlanta.example.com';
const ALICE_TAG = '9fxced76sl';
const BOB_TAG = '314159';
const INVITE_BRANCH = 'z9hG4bK74bf9';
const PROXY_BRANCH = 'z9hG4bK2d4790.1';
const ACK_BRANCH = 'z9hG4bK74bfa';
const BYE_BRANCH = 'z9hG4bKnashds7';

const aliceOffer = sdp([
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.101',
  's=-',
  'c=IN IP4 192.0.2.101',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=sendrecv',
]);

const bobAnswer = sdp([
  'v=0',
  'o=bob 2808844564 2808844564 IN IP4 192.0.2.201',
  's=-',
  'c=IN IP4 192.0.2.201',
  't=0 0',
  'm=audio 3456 RTP/AVP 0 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=sendrecv',
]);

const ALLOW = 'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE';
const SUPPORTED = 'Supported: replaces, timer, 100rel';

const FROM_ALICE = `From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=${ALICE_TAG}`;
const TO_BOB = 'To: Bob <sip:bob@biloxi.example.com>';
const TO_BOB_TAGGED = `${TO_BOB};tag=${BOB_TAG}`;
const VIA_PROXY = `Via: SIP/2.0/UDP ss1.atlanta.example.com:5060;branch=${PROXY_BRANCH};received=192.0.2.111`;
const VIA_ALICE = `Via: SIP/2.0/UDP 192.0.2.101:5060;branch=${INVITE_BRANCH};rport=5060;received=192.0.2.101`;
const RECORD_ROUTE = 'Record-Route: <sip:ss1.atlanta.example.com;lr>';

const invite = sipMessage(
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  [
    `Via: SIP/2.0/UDP ss1.atlanta.example.com:5060;branch=${PROXY_BRANCH}`,
    `Via: SIP/2.0/UDP 192.0.2.101:5060;branch=${INVITE_BRANCH};rport=5060;received=192.0.2.101`,
    'Max-Forwards: 69',
    RECORD_ROUTE,
    TO_BOB,
    FROM_ALICE,
    `Call-ID: ${CALL_ID}`,
    'CSeq: 314159 INVITE',
    'Contact: <sip:alice@192.0.2.101:5060;transport=udp>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"',
    ALLOW,
    SUPPORTED,
    'User-Agent: Grandstream GXP2170 1.0.11.23',
    'Content-Type: application/sdp',
  ],
  aliceOffer,
);

const ringing = sipMessage(
  'SIP/2.0 180 Ringing',
  [
    VIA_PROXY,
    VIA_ALICE,
    RECORD_ROUTE,
    TO_BOB_TAGGED,
    FROM_ALICE,
    `Call-ID: ${CALL_ID}`,
    'CSeq: 314159 INVITE',
    'Contact: <sip:bob@192.0.2.201:5060>',
    ALLOW,
    'Server: Polycom VVX 6.3.0',
  ],
  '',
);

const ok = sipMessage(
  'SIP/2.0 200 OK',
  [
    VIA_PROXY,
    VIA_ALICE,
    RECORD_ROUTE,
    TO_BOB_TAGGED,
    FROM_ALICE,
    `Call-ID: ${CALL_ID}`,
    'CSeq: 314159 INVITE',
    'Contact: <sip:bob@192.0.2.201:5060>;expires=3600',
    ALLOW,
    SUPPORTED,
    'Server: Polycom VVX 6.3.0',
    'Content-Type: application/sdp',
  ],
  bobAnswer,
);

const ack = sipMessage(
  'ACK sip:bob@192.0.2.201:5060 SIP/2.0',
  [
    `Via: SIP/2.0/UDP 192.0.2.101:5060;branch=${ACK_BRANCH};rport`,
    'Max-Forwards: 70',
    'Route: <sip:ss1.atlanta.example.com;lr>',
    TO_BOB_TAGGED,
    FROM_ALICE,
    `Call-ID: ${CALL_ID}`,
    'CSeq: 314159 ACK',
    'User-Agent: Grandstream GXP2170 1.0.11.23',
  ],
  '',
);

const bye = sipMessage(
  'BYE sip:alice@192.0.2.101:5060;transport=udp SIP/2.0',
  [
    `Via: SIP/2.0/UDP 192.0.2.201:5060;branch=${BYE_BRANCH};rport`,
    'Max-Forwards: 70',
    'Route: <sip:ss1.atlanta.example.com;lr>',
    `From: Bob <sip:bob@biloxi.example.com>;tag=${BOB_TAG}`,
    `To: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=${ALICE_TAG}`,
    `Call-ID: ${CALL_ID}`,
    'CSeq: 231 BYE',
    'Reason: Q.850;cause=16;text="Normal call clearing"',
    'User-Agent: Polycom VVX 6.3.0',
  ],
  '',
);

const REGISTER_CALL_ID = '843817637684230@998sdasdh09';
const REGISTER_TAG = '72d4h9a7';
const REGISTER_BRANCH = 'z9hG4bKnashd92';

const register = sipMessage(
  'REGISTER sip:registrar.biloxi.example.com SIP/2.0',
  [
    `Via: SIP/2.0/UDP 192.0.2.201:5060;branch=${REGISTER_BRANCH};rport`,
    'Max-Forwards: 70',
    `From: Bob <sip:bob@biloxi.example.com>;tag=${REGISTER_TAG}`,
    'To: Bob <sip:bob@biloxi.example.com>',
    `Call-ID: ${REGISTER_CALL_ID}`,
    'CSeq: 2 REGISTER',
    'Contact: <sip:bob@192.0.2.201:5060;transport=udp>;expires=3600;q=0.8',
    'Authorization: Digest username="bob", realm="biloxi.example.com", ' +
      'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:registrar.biloxi.example.com", ' +
      'response="245f23415f11432b3434341c022f5432", algorithm=MD5, cnonce="0a4f113b", ' +
      'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001',
    ALLOW,
    'User-Agent: Polycom VVX 6.3.0',
    'Expires: 3600',
  ],
  '',
);

export const messageMix: BenchMessage[] = [
  {
    name: 'INVITE with SDP',
    text: invite,
    expected: {
      methodOrStatus: 'INVITE',
      callId: CALL_ID,
      cseqSeq: 314159,
      cseqMethod: 'INVITE',
      topBranch: PROXY_BRANCH,
      fromTag: ALICE_TAG,
      bodyLength: aliceOffer.length,
    },
  },
  {
    name: '180 Ringing',
    text: ringing,
    expected: {
      methodOrStatus: 180,
      callId: CALL_ID,
      cseqSeq: 314159,
      cseqMethod: 'INVITE',
      topBranch: PROXY_BRANCH,
      fromTag: ALICE_TAG,
      bodyLength: 0,
    },
  },
  {
    name: '200 OK with SDP',
    text: ok,
    expected: {
      methodOrStatus: 200,
      callId: CALL_ID,
      cseqSeq: 314159,
      cseqMethod: 'INVITE',
      topBranch: PROXY_BRANCH,
      fromTag: ALICE_TAG,
      bodyLength: bobAnswer.length,
    },
  },
  {
    name: 'ACK',
    text: ack,
    expected: {
      methodOrStatus: 'ACK',
      callId: CALL_ID,
      cseqSeq: 314159,
      cseqMethod: 'ACK',
      topBranch: ACK_BRANCH,
      fromTag: ALICE_TAG,
      bodyLength: 0,
    },
  },
  {
    name: 'BYE',
    text: bye,
    expected: {
      methodOrStatus: 'BYE',
      callId: CALL_ID,
      cseqSeq: 231,
      cseqMethod: 'BYE',
      topBranch: BYE_BRANCH,
      fromTag: BOB_TAG,
      bodyLength: 0,
    },
  },
  {
    name: 'REGISTER with Authorization',
    text: register,
    expected: {
      methodOrStatus: 'REGISTER',
      callId: REGISTER_CALL_ID,
      cseqSeq: 2,
      cseqMethod: 'REGISTER',
      topBranch: REGISTER_BRANCH,
      fromTag: REGISTER_TAG,
      bodyLength: 0,
    },
  },
];
