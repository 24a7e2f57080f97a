// Transport addresses as the analyzer prints and keys them: 'ip:port', IPv6 as '[ip]:port'.

/** 'ip:port' for IPv4 and host names, '[ip]:port' for IPv6 literals. */
export function formatEndpoint(address: string, port: number): string {
  if (address.includes(':') && !address.startsWith('[')) return `[${address}]:${port}`;
  return `${address}:${port}`;
}
