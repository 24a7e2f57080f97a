// The Via side of the transport layer: where a server stamps `received` and `rport` (RFC 3261
// §18.2.1, RFC 3581 §4) and where a response is sent (RFC 3261 §18.2.2, RFC 3581 §4).
import { formatVia } from '../sip/index.ts';
import type { SipMessage, SipRequest, Via } from '../sip/index.ts';
import type { Endpoint, TransportProtocol } from './endpoint.ts';
import { defaultPort, normalizeAddress, protocolFromToken } from './endpoint.ts';

/** Replaces the top Via of a message with `via` (re-serialized; the others keep their bytes). */
export function replaceTopVia(message: SipMessage, via: Via): void {
  message.removeFirst('Via');
  message.prepend('Via', formatVia(via));
}

/**
 * Server side of §18.2.1 and RFC 3581 §4: adds `received=<source address>` when the sent-by host
 * differs from the address the request came from (and always when the client asked for rport),
 * and fills an empty `rport` with the source port. Returns whether the Via was changed.
 */
export function stampReceived(request: SipRequest, source: Endpoint): boolean {
  const via = request.via[0];
  if (!via) return false;
  const rportAsked = via.rport === null;
  const sourceAddress = normalizeAddress(source.address);
  const needsReceived =
    (rportAsked || normalizeAddress(via.host) !== sourceAddress) && via.received !== sourceAddress;
  if (!needsReceived && !rportAsked) return false;
  const params: Record<string, string | null> = { ...via.params };
  const stamped: Via = { ...via, params };
  if (needsReceived) {
    params.received = sourceAddress;
    stamped.received = sourceAddress;
  }
  if (rportAsked) {
    params.rport = String(source.port);
    stamped.rport = source.port;
  }
  replaceTopVia(request, stamped);
  return true;
}

/** Client side of RFC 3581 §3: asks for rport in our top Via. Returns whether it changed. */
export function askRport(message: SipMessage): boolean {
  const via = message.via[0];
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
    protocol === 'udp' && typeof via.rport === 'number'
      ? via.rport
      : (via.port ?? defaultPort(protocol));
  return { protocol, address: normalizeAddress(host), port };
}
