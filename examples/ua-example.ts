// A runnable tour of the user agent library: two user agents in one process, Bob answering and
// Alice calling him, straight over loopback UDP (no server needed).
//
//   node --conditions=trapezoid-source --import tsx examples/ua-example.ts
//
// (in a program that installed the package: `import ... from 'trapezoid'` just works.)
//
// With a registrar / proxy, give `server` and `password` and register first:
//   const ua = new UserAgent({ uri: 'sip:1000@demo.trapezoid', password: 'secret', server: 'udp:127.0.0.1:5060' });
//   await ua.start();
//   await ua.register();                       // digest challenges (401/407) are answered for you
//   const call = await ua.invite('1001');      // a user in our domain, or any 'sip:' URI
import { CallFailedError, UserAgent } from 'trapezoid';

const bob = new UserAgent({ uri: 'sip:bob@127.0.0.1', listen: 'udp:127.0.0.1:0' });
const alice = new UserAgent({ uri: 'sip:alice@127.0.0.1', listen: 'udp:127.0.0.1:0' });
await bob.start();
await alice.start();
const bobPort = bob.listening[0].port;

// Bob rings for half a second, then answers. The first caller is accepted, the next gets 486.
let busy = false;
bob.on('invite', (incoming) => {
  if (busy) return incoming.reject(486);
  busy = true;
  console.log(`bob: call from ${incoming.from}`);
  incoming.ring();
  setTimeout(() => void incoming.accept({ body: 'v=0\r\ns=bob\r\n' }), 500);
  incoming.on('ended', (end) => console.log(`bob: call ended (${end.reason}, by ${end.by})`));
});

// Alice calls: invite() resolves once answered (and rejects with the status otherwise).
const call = await alice.invite(`sip:bob@127.0.0.1:${bobPort}`, {
  body: 'v=0\r\ns=alice\r\n',
  onCall: (c) => c.on('ringing', (res) => console.log(`alice: ringing (${res.status})`)),
});
console.log(`alice: answered, bob's session: ${JSON.stringify(call.remoteBody?.toString())}`);
call.on('ended', (end) => console.log(`alice: call ended (${end.reason}, by ${end.by})`));

// A second call while Bob is busy is refused.
try {
  await alice.invite(`sip:bob@127.0.0.1:${bobPort}`);
} catch (err) {
  if (err instanceof CallFailedError)
    console.log(`alice: second call refused: ${err.status} ${err.reason}`);
}

// Ask Bob what he supports, then hang up and stop both.
const options = await alice.options(`sip:bob@127.0.0.1:${bobPort}`);
console.log(`alice: OPTIONS ${options.status}, Allow: ${options.allow.join(' ')}`);
await call.bye();
await alice.stop();
await bob.stop();
