// bench:uas's trapezoid side: a minimal answering process on src/ua, run by plain node on the
// compiled dist/ (bench/build.ts says why; bench/uas.ts builds it first). Answers every INVITE
// with 180 then 200 (like SIPp's uas) until SIGTERM.
//   node bench/uas-serve.mjs PORT SOCKET_BUFFER_BYTES
import { UserAgent } from '../dist/ua/index.js';

const SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=inactive\r\n';

const [port, buffer] = process.argv.slice(2).map(Number);
// The same socket buffers as SIPp gets (-buff_size), so both UASs absorb bursts alike.
const ua = new UserAgent({
  uri: 'sip:uas@127.0.0.1',
  listen: `udp:127.0.0.1:${port}`,
  transportOptions: { udpBufferSize: buffer },
});
await ua.start();
ua.on('invite', (call) => {
  call.ring();
  void call.accept({ body: SDP });
});
process.stdout.write('ready\n');
await new Promise((resolve) => process.once('SIGTERM', resolve));
await ua.stop();
