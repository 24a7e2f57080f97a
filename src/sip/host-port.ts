// How a transport address is written: a host in a URI or Via (RFC 3261 §25.1: an IPv6
// reference is bracketed) and 'host:port' for logs, reports and keys.

/** The host as it is written in a Via or URI: IPv6 literals in brackets. */
export function hostForHeader(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}

/** 'ip:port' for IPv4 and host names, '[ip]:port' for IPv6 literals. */
export function formatHostPort(address: string, port: number): string {
  return `${hostForHeader(address)}:${port}`;
}
