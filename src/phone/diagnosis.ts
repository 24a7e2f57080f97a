// Why the phone could not use its server, in words that say what to do about it. A request that
// gets no response ends in a locally made 408 or 503 (RFC 3261 §8.1.3.1), which says nothing of
// the cause; these checks find it out:
//
//   UDP   nothing listens on the port: the host answers a datagram with ICMP port unreachable,
//         which a connected UDP socket reads as ECONNREFUSED. watchUdpServers sends CRLFCRLF
//         keep-alives (ignored by SIP servers, RFC 5626 §4.4.1) from a socket of its own while
//         the first request is out, so the phone says so at once instead of after Timer F (32 s).
//   TCP   the connection is refused or times out.
//   TLS   the handshake fails: a certificate not signed by a trusted CA (--tls-ca), expired, or
//         for another name.
//
// and hintFor turns a final response into what to change (404 "domain not served here": the
// --domain flag).
import { createSocket } from 'node:dgram';
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { formatEndpoint, isSecureProtocol, type Endpoint } from '../transport/index.ts';

/** RFC 5626 §4.4.1 double-CRLF keep-alive: a SIP element ignores it. */
const KEEP_ALIVE = Buffer.from('\r\n\r\n');
/** Keep-alives while the request is out: at once, then as Timer E would retransmit (T1 .. T2). */
const PROBE_FIRST_MS = 500;
const PROBE_MAX_MS = 4000;
/** How long a diagnosing connection may take. */
const CONNECT_TIMEOUT_MS = 5000;

/** What the user gave that led to a server, and what the phone trusts over TLS. */
export interface ServerCheck {
  /** The flags that name the server: `--server pbx:5080 --transport tcp`, `--call sip:...`. */
  named: string;
  /** --tls-ca as given (for the message) and its contents. */
  tlsCa?: { path: string; pem: Buffer };
}

function noServer(targets: Endpoint | Endpoint[], what: string, check: ServerCheck): string {
  const where = (Array.isArray(targets) ? targets : [targets]).map(formatEndpoint).join(' or ');
  return `no SIP server at ${where}: ${what}. Is the server running there? Check ${check.named}.`;
}

export interface UdpServerWatch {
  /**
   * Resolves with what to tell the user once every server watched has said that nothing listens
   * there (while one may still answer, RFC 3263 fail-over goes on); otherwise never.
   */
  readonly unreachable: Promise<string>;
  /** Stops the keep-alives and closes the sockets. */
  close(): void;
}

/**
 * Watches UDP servers (the targets a request may be sent to, in turn) for ICMP port unreachable,
 * see the top of the file, until closed.
 */
export function watchUdpServers(targets: readonly Endpoint[], check: ServerCheck): UdpServerWatch {
  const distinct = [...new Map(targets.map((t) => [formatEndpoint(t), t])).values()];
  const probes = distinct.map(probeUdp);
  const unreachable = Promise.all(probes.map((p) => p.refused)).then(() =>
    noServer(distinct, 'the host answered "port unreachable" (ECONNREFUSED)', check),
  );
  return { unreachable, close: () => probes.forEach((p) => p.close()) };
}

/** One connected UDP socket sending keep-alives to `target`; `refused` once ICMP says so. */
function probeUdp(target: Endpoint): { refused: Promise<void>; close(): void } {
  const socket = createSocket(isIP(target.address) === 6 ? 'udp6' : 'udp4');
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let refuse: () => void = () => undefined;
  const refused = new Promise<void>((resolve) => (refuse = resolve));
  const close = () => {
    if (closed) return;
    closed = true;
    if (timer) clearTimeout(timer);
    socket.close();
  };
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ECONNREFUSED') refuse();
    // Any other error (no route, a network down) leaves the request's own timeout to tell.
    close();
  });
  socket.on('message', () => undefined); // a receive is pending: ICMP errors are read
  const send = (interval: number) => {
    if (closed) return;
    socket.send(KEEP_ALIVE, () => undefined);
    timer = setTimeout(() => send(Math.min(interval * 2, PROBE_MAX_MS)), interval);
    timer.unref();
  };
  socket.connect(target.port, target.address, () => send(PROBE_FIRST_MS));
  return { refused, close };
}

/** What Node's TLS verification codes mean, for a user. */
const CERTIFICATE_PROBLEMS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its chain ends in a self-signed CA that is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'it is signed by a CA that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT: 'it is signed by a CA that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'it is signed by a CA that is not trusted',
  CERT_SIGNATURE_FAILURE: 'its signature does not verify',
  CERT_HAS_EXPIRED: 'it has expired',
  CERT_NOT_YET_VALID: 'it is not valid yet',
};

/**
 * Connects to a TCP, TLS, WS or WSS server as the phone's transport does (the same address,
 * server name and trust) and says why that fails, or undefined when it works (or for UDP).
 */
export function diagnoseConnection(
  target: Endpoint,
  check: ServerCheck,
): Promise<string | undefined> {
  if (target.protocol === 'udp') return Promise.resolve(undefined);
  const secure = isSecureProtocol(target.protocol);
  const host = target.address;
  return new Promise((resolve) => {
    const socket: Socket = secure
      ? tlsConnect({
          host,
          port: target.port,
          servername: isIP(host) ? undefined : host,
          ca: check.tlsCa?.pem,
          rejectUnauthorized: true,
        })
      : tcpConnect({ host, port: target.port });
    const done = (message: string | undefined) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(message);
    };
    const timer = setTimeout(
      () =>
        done(
          noServer(
            target,
            `no answer to a connection within ${CONNECT_TIMEOUT_MS / 1000} s`,
            check,
          ),
        ),
      CONNECT_TIMEOUT_MS,
    );
    socket.once(secure ? 'secureConnect' : 'connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(connectionProblem(target, err, check)),
    );
  });
}

function connectionProblem(
  target: Endpoint,
  err: NodeJS.ErrnoException,
  check: ServerCheck,
): string {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED')
    return noServer(target, 'the connection was refused (ECONNREFUSED)', check);
  if (code === 'ETIMEDOUT') return noServer(target, 'the connection timed out (ETIMEDOUT)', check);
  const problem = CERTIFICATE_PROBLEMS[code];
  if (problem) {
    return (
      `TLS: the certificate of ${formatEndpoint(target)} is not trusted: ${problem} (${code}). ` +
      (check.tlsCa
        ? `--tls-ca ${check.tlsCa.path} holds neither it nor the CA that signed it.`
        : 'To trust it, give the certificate (or the CA that signed it) with --tls-ca FILE.')
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return (
      `TLS: the certificate of ${formatEndpoint(target)} is not for the name or address connected ` +
      `to (${err.message}). Connect by a name it names, or give the server a certificate for it.`
    );
  }
  return `cannot connect to ${formatEndpoint(target)}: ${err.message}${code ? ` (${code})` : ''}`;
}

export interface HintContext {
  /** Our domain, and whether --domain gave it (else it is the --server host). */
  domain: string;
  domainGiven: boolean;
  user: string;
  passwordGiven: boolean;
}

/** A final response to a REGISTER or INVITE: what to change, or undefined. */
export function hintFor(status: number, reason: string, context: HintContext): string | undefined {
  if (status === 404 && /domain/i.test(reason)) {
    return (
      `the server does not serve the domain "${context.domain}"` +
      (context.domainGiven ? '' : ' (taken from the --server host)') +
      ': give the domain it serves with --domain DOMAIN'
    );
  }
  if (status === 403 && reason === 'Forbidden' && context.passwordGiven) {
    return `check --user, --password and --domain`;
  }
  if (status === 401 || status === 407) {
    return context.passwordGiven
      ? `the server did not accept the password of "${context.user}" in "${context.domain}": ` +
          'check --user, --password and --domain'
      : 'the server asks for credentials: give --user and --password';
  }
  return undefined;
}
