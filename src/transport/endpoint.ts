// Where a SIP message comes from or goes to: a transport protocol, an address and a port.

/** The transports of RFC 3261 §18 plus WebSocket (RFC 7118). */
export type TransportProtocol = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

export interface Endpoint {
  protocol: TransportProtocol;
  /** An IP literal without brackets ('127.0.0.1', '::1') or a host name. */
  address: string;
  port: number;
}

const PROTOCOLS: ReadonlySet<string> = new Set(['udp', 'tcp', 'tls', 'ws', 'wss']);

/** 'UDP' (a Via transport token) or 'udp' to a TransportProtocol, or undefined (SCTP, unknown). */
export function protocolFromToken(token: string): TransportProtocol | undefined {
  const lower = token.toLowerCase();
  return PROTOCOLS.has(lower) ? (lower as TransportProtocol) : undefined;
}

/** Whether a protocol is reliable (§17: no retransmissions by the transaction layer). */
export function isReliableProtocol(protocol: TransportProtocol): boolean {
  return protocol !== 'udp';
}

/** Whether the protocol runs over a byte stream or WebSocket connection. */
export function isStreamProtocol(protocol: TransportProtocol): boolean {
  return protocol !== 'udp';
}

/** Default port of a protocol (§19.1.2, RFC 7118 uses the HTTP ports). */
export function defaultPort(protocol: TransportProtocol): number {
  switch (protocol) {
    case 'tls':
      return 5061;
    case 'ws':
      return 80;
    case 'wss':
      return 443;
    default:
      return 5060;
  }
}

const MAPPED_V4_PREFIX = '::ffff:';

/** Strips IPv6 brackets and the IPv4-mapped prefix, and lowers the case. */
export function normalizeAddress(address: string): string {
  let a = address;
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  a = a.toLowerCase();
  if (a.startsWith(MAPPED_V4_PREFIX) && a.includes('.')) a = a.slice(MAPPED_V4_PREFIX.length);
  return a;
}

/** The host as it is written in a Via or URI: IPv6 literals in brackets. */
export function hostForHeader(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}

/** A map key for one (protocol, address, port). */
export function endpointKey(e: Endpoint): string {
  return `${e.protocol}|${normalizeAddress(e.address)}|${e.port}`;
}

/** 'udp:127.0.0.1:5060', '[::1]' for IPv6: for logs and errors. */
export function formatEndpoint(e: Endpoint): string {
  return `${e.protocol}:${hostForHeader(e.address)}:${e.port}`;
}

/** Whether an address is an IPv6 literal (bracketed or not). */
export function isIPv6(address: string): boolean {
  return address.includes(':');
}
