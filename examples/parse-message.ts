// Parse a SIP message, read its headers and SDP, and answer it: the message layer as a library.
//
//   node --conditions=trapezoid-source --import tsx examples/parse-message.ts [FILE]
//
// (in a program that installed the package: `import ... from 'trapezoid'` just works.)
import { readFileSync } from 'node:fs';
import {
  createResponse,
  formatUri,
  newTag,
  parseMessage,
  parseSdp,
  SipParseError,
  SipRequest,
} from 'trapezoid';

const file = process.argv[2] ?? new URL('invite.sip', import.meta.url);
const bytes = readFileSync(file);

let message;
try {
  message = parseMessage(bytes);
} catch (err) {
  // Bad input always throws SipParseError, with a reason fit for a 400 and where it went wrong.
  if (!(err instanceof SipParseError)) throw err;
  console.log(`invalid: ${err.reason} (line ${err.line}, column ${err.column})`);
  process.exit(1);
}

if (!(message instanceof SipRequest)) {
  console.log(`a response: ${message.status} ${message.reason}`);
  process.exit(0);
}

console.log(`${message.method} to ${formatUri(message.requestUri)}`);
console.log(`from ${message.from.uri.user ?? ''}@${message.from.uri.host} tag ${message.from.tag}`);
console.log(`call ${message.callId}, CSeq ${message.cseq.seq} ${message.cseq.method}`);
console.log(`top Via: ${message.topVia.transport} ${message.topVia.host}:${message.topVia.port}`);

if (message.contentType === 'application/sdp') {
  const sdp = parseSdp(message.body.toString('utf8'));
  for (const media of sdp.media) {
    console.log(
      `offers ${media.type} on port ${media.port}: payload types ${media.formats.join(' ')}`,
    );
  }
}

// The answer copies Via, From, To, Call-ID and CSeq; a UAS adds its To-tag (RFC 3261 §8.2.6).
const answer = createResponse(message, 486, undefined, { toTag: newTag() });
console.log('--- answer ---');
process.stdout.write(answer.toString());
