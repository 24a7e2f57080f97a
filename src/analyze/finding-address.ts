// IP literals as security findings compare them: canonical text, and the scope of an address
// (loopback, private, public). A header that names an address of another scope than the packet's
// source is what NAT does every day (a phone behind NAT writes its private address in Via; a
// server with a configured public address writes that one while the capture sees its private
// one), so the spoofing check only compares addresses of the same scope.
import { isIP } from 'node:net';

export type AddressScope = 'loopback' | 'private' | 'public';

/** Canonical text of an IPv4/IPv6 literal (brackets removed), or undefined for a host name. */
export function canonicalIp(host: string): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const version = isIP(bare);
  if (version === 4) return bare.split('.').map(Number).join('.');
  if (version === 6) {
    // The WHATWG URL parser serialises IPv6 in RFC 5952 form (lower case, longest zero run '::').
    try {
      return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Loopback, private (RFC 1918, RFC 6598 shared, link-local, IPv6 ULA) or public. */
export function addressScope(ip: string): AddressScope {
  if (ip.includes(':')) {
    const lower = ip.toLowerCase();
    if (lower === '::1') return 'loopback';
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    if (mapped) return addressScope(mapped[1]);
    const first = parseInt(lower.split(':')[0] || '0', 16);
    if ((first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80) return 'private';
    return 'public';
  }
  const [a, b] = ip.split('.').map(Number);
  if (a === 127) return 'loopback';
  if (a === 10) return 'private';
  if (a === 172 && b >= 16 && b <= 31) return 'private';
  if (a === 192 && b === 168) return 'private';
  if (a === 100 && b >= 64 && b <= 127) return 'private';
  if (a === 169 && b === 254) return 'private';
  return 'public';
}
