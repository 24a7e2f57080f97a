// The Via side of the transport layer: where a server stamps `received` and `rport` (RFC 3261
// §18.2.1, RFC 3581 §4) and where a response is sent (RFC 3261 §18.2.2, RFC 3581 §4).
import type { SipMessage, SipRequest, Via } from '../sip/index.ts';
import type { Endpoint, TransportProtocol } from './endpoint.ts';
import { normalizeAddress } from './endpoint.ts';
import { defaultPort, isReliableProtocol, protocolFromToken } from './protocols.ts';

/** Replaces the top Via of a message with `via` (re-serialized; the others keep their bytes). */
export function replaceTopVia(message: SipMessage, via: Via): void {
  message.removeFirst('Via');
  message.prependVia(via);
}

/** Whether a response may follow a request's Via `maddr` to `destination` (see stampReceived). */
export type MaddrPolicy = (destination: Endpoint) => boolean;

const NEVER: MaddrPolicy = () => false;

/**
 * Server side of §18.2.1 and RFC 3581 §4: adds `received=<source address>` when the sent-by host
 * differs from the address the request came from (and always when the client asked for rport),
 * and fills `rport` with the source port. Returns whether the Via was changed.
 *
 * Only the receiving server writes `received` and `rport`, so a request that arrives with them
 * already set (to anything but its source) has them replaced: a sender cannot aim our response
 * at a third host that way. `maddr` (§18.2.2 sends the response there) is kept only when
 * `maddrAllowed` accepts where it leads (our own address, a host the operator trusts); any other
 * is removed from the Via, so neither our response nor one forwarded back along this Via is
 * reflected to the host it names.
 */
export function stampReceived(
  request: SipRequest,
  source: Endpoint,
  maddrAllowed: MaddrPolicy = NEVER,
): boolean {
  const via = request.firstVia;
  if (!via) return false;
  const sourceAddress = normalizeAddress(source.address);
  const rportPresent = via.rport !== undefined;
  const receivedIsSource =
    via.received !== undefined && normalizeAddress(via.received) === sourceAddress;
  const needsReceived =
    !receivedIsSource &&
    (rportPresent || via.received !== undefined || normalizeAddress(via.host) !== sourceAddress);
  const needsRport = rportPresent && via.rport !== source.port;
  const maddr = via.params.maddr;
  const dropMaddr = maddr !== undefined && !maddrAllowed(maddrDestination(via, maddr, source));
  if (!needsReceived && !needsRport && !dropMaddr) return false;
  const params: Record<string, string | null> = { ...via.params };
  const stamped: Via = { ...via, params };
  if (needsReceived) {
    params.received = sourceAddress;
    stamped.received = sourceAddress;
  }
  if (needsRport) {
    params.rport = String(source.port);
    stamped.rport = source.port;
  }
  if (dropMaddr) delete params.maddr;
  replaceTopVia(request, stamped);
  return true;
}

/** Where §18.2.2 would send a response for a Via naming `maddr`. */
function maddrDestination(via: Via, maddr: string | null, source: Endpoint): Endpoint {
  const protocol = protocolFromToken(via.transport) ?? source.protocol;
  return {
    protocol,
    address: normalizeAddress(maddr ?? ''),
    port: via.port ?? defaultPort(protocol),
  };
}

/** Client side of RFC 3581 §3: asks for rport in our top Via. Returns whether it changed. */
export function askRport(message: SipMessage): boolean {
  const via = message.firstVia;
  if (!via || via.rport !== undefined) return false;
  replaceTopVia(message, { ...via, params: { ...via.params, rport: null }, rport: null });
  return true;
}

/**
 * Where a response goes when the connection its request came on is gone or it is UDP
 * (§18.2.2, RFC 3581 §4): the received address (or sent-by host) and, over UDP, the rport the
 * server filled in, else the sent-by port (default port of the transport).
 */
export function responseDestination(
  via: Via,
  fallback: TransportProtocol = 'udp',
): Endpoint | undefined {
  const protocol = protocolFromToken(via.transport) ?? fallback;
  const host = via.params.maddr ?? via.received ?? via.host;
  if (!host) return undefined;
  const port =
    !isReliableProtocol(protocol) && typeof via.rport === 'number'
      ? via.rport
      : (via.port ?? defaultPort(protocol));
  return { protocol, address: normalizeAddress(host), port };
}
