// Where a SIP message comes from or goes to: a transport protocol, an address and a port.
import { formatHostPort, hostForHeader } from '../sip/index.ts';
import type { TransportProtocol } from './protocols.ts';

export type { TransportProtocol } from './protocols.ts';
export { hostForHeader };

export interface Endpoint {
  protocol: TransportProtocol;
  /** An IP literal without brackets ('127.0.0.1', '::1') or a host name. */
  address: string;
  port: number;
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

/** A map key for one (protocol, address, port). */
export function endpointKey(e: Endpoint): string {
  return `${e.protocol}|${normalizeAddress(e.address)}|${e.port}`;
}

/** 'udp:127.0.0.1:5060', '[::1]' for IPv6: for logs and errors. */
export function formatEndpoint(e: Endpoint): string {
  return `${e.protocol}:${formatHostPort(e.address, e.port)}`;
}

/** Whether an address is an IPv6 literal (bracketed or not). */
export function isIPv6(address: string): boolean {
  return address.includes(':');
}
