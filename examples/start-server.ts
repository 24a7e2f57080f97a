// The call server started from code, and two phones that register with it and call each other
// through it: what `trapezoid serve` runs, inside a program.
//
//   node --conditions=trapezoid-source --import tsx examples/start-server.ts
//
// (in a program that installed the package: `import ... from 'trapezoid'` just works.)
import { startServer, UserAgent } from 'trapezoid';

// The same config as a YAML file (examples/single-server.yaml), as an object. Port 0 lets the
// system choose; ':memory:' keeps the users, registrations and CDRs in memory.
const server = await startServer({
  domain: 'example.test',
  listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
  http: { port: 0 },
  database: ':memory:',
  users: [
    { user: '1000', password: 'secret-1000' },
    { user: '1001', password: 'secret-1001' },
  ],
  log: { level: 'warn' },
});
const sip = server.sip[0]!;
console.log(`server: SIP on udp ${sip.address}:${sip.port}, HTTP API on ${server.http.url}`);

function phone(user: string): UserAgent {
  return new UserAgent({
    uri: `sip:${user}@example.test`,
    password: `secret-${user}`,
    server: `udp:127.0.0.1:${sip.port}`,
    listen: 'udp:127.0.0.1:0',
  });
}
const alice = phone('1000');
const bob = phone('1001');
for (const ua of [alice, bob]) {
  await ua.start();
  await ua.register(); // the server's digest challenge is answered for us
}
console.log('alice and bob: registered');

// Bob answers; Alice dials his number, the server routes it to his registered phone.
bob.on('invite', (incoming) => void incoming.accept({ body: 'v=0\r\ns=bob\r\n' }));
const call = await alice.invite('1001', { body: 'v=0\r\ns=alice\r\n' });
console.log('alice: call answered through the server');
await call.bye();

// The server's record of the call, through its HTTP API.
const cdrs = (await (await fetch(`${server.http.url}/api/cdrs`)).json()) as Array<{
  caller: string;
  callee: string;
  cause: string;
}>;
for (const cdr of cdrs) console.log(`server: CDR ${cdr.caller} -> ${cdr.callee}: ${cdr.cause}`);

for (const ua of [alice, bob]) {
  await ua.unregister();
  await ua.stop();
}
await server.stop();
console.log('server: stopped');
