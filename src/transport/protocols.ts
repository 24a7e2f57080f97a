// The transports SIP runs over, and every fact about one that more than one layer needs: the
// single table that the transport layer, the server locator (RFC 3263), the call server's
// configuration and router, and the user agent's Contact and Route all read. Each entry also
// names the file that carries the protocol (`carrier`, a ProtocolTransport): adding a transport
// is one new file implementing ProtocolTransport plus one entry here.
//
// protocol  reliable  secure  port  SRV (RFC 3263 §4.1)  NAPTR       URI transport=  Via token
// udp       no        no      5060  _sip._udp            SIP+D2U     udp             UDP
// tcp       yes       no      5060  _sip._tcp            SIP+D2T     tcp             TCP
// tls       yes       yes     5061  _sips._tcp           SIPS+D2T    tcp (sips:)     TLS
// ws        yes       no        80  _sip._ws             SIP+D2W     ws              WS
// wss       yes       yes      443  _sips._ws            SIPS+D2W    ws (sips:)      WSS
//
// Default ports: RFC 3261 §19.1.2 gives 5060 to sip: over UDP and TCP and 5061 to TLS. RFC 7118
// §3 puts SIP over WebSocket on the WebSocket ports of RFC 6455 §3 (80, and 443 over TLS): a
// WebSocket server is an HTTP server, and a `ws://host/` with no port connects to 80. RFC 7118
// §5.2 gives WebSocket one URI transport parameter, `ws`, secured by the sips: scheme, as TLS
// shares `tcp` (RFC 3261 §26.2.2: transport=tls is deprecated; it is still read).

import type { ProtocolTransport, TransportHost } from './transport.ts';
import { TcpTransport } from './tcp-transport.ts';
import { TlsTransport } from './tls-transport.ts';
import { UdpTransport } from './udp-transport.ts';
import { WebSocketTransport } from './websocket-transport.ts';

export interface ProtocolFacts {
  /** §17: the transaction layer retransmits only over unreliable transports. */
  readonly reliable: boolean;
  /** Runs over TLS: the transport of sips: URIs (§26.2.2). */
  readonly secure: boolean;
  /** Port when a URI or Via names none (§19.1.2, RFC 7118 §3). */
  readonly defaultPort: number;
  /** RFC 3263 §4.1: the SRV service and protocol labels, `_sip._udp`. */
  readonly srvService: string;
  /** RFC 3263 §4.1 and RFC 7118 §10: the NAPTR service field, `SIP+D2U`. */
  readonly naptrService: string;
  /** The URI `transport=` value (with the sips: scheme when `secure`). */
  readonly uriTransport: string;
  /** The Via sent-protocol transport token (§20.42, RFC 7118 §5.1). */
  readonly viaTransport: string;
  /** Outbound connections get CRLFCRLF keep-alive pings (RFC 5626 §3.5.1). */
  readonly crlfKeepAlive: boolean;
  /**
   * RFC 7118 §5.2: a client that cannot be connected to (a WebSocket client) writes a random
   * `.invalid` host in its Via when it has no listener of this transport.
   */
  readonly invalidViaHost: boolean;
}

/** A table entry: the facts, and the transport that carries the protocol. */
interface ProtocolEntry extends ProtocolFacts {
  /**
   * Makes the protocol's transport for a transport layer. Called when a TransportLayer is built,
   * never while this module loads (the transport files import this table too).
   */
  readonly carrier: (host: TransportHost) => ProtocolTransport;
}

const TABLE = {
  udp: {
    reliable: false,
    secure: false,
    defaultPort: 5060,
    srvService: '_sip._udp',
    naptrService: 'SIP+D2U',
    uriTransport: 'udp',
    viaTransport: 'UDP',
    crlfKeepAlive: false,
    invalidViaHost: false,
    carrier: (host: TransportHost): ProtocolTransport => new UdpTransport(host),
  },
  tcp: {
    reliable: true,
    secure: false,
    defaultPort: 5060,
    srvService: '_sip._tcp',
    naptrService: 'SIP+D2T',
    uriTransport: 'tcp',
    viaTransport: 'TCP',
    crlfKeepAlive: true,
    invalidViaHost: false,
    carrier: (host: TransportHost): ProtocolTransport => new TcpTransport(host),
  },
  tls: {
    reliable: true,
    secure: true,
    defaultPort: 5061,
    srvService: '_sips._tcp',
    naptrService: 'SIPS+D2T',
    uriTransport: 'tcp',
    viaTransport: 'TLS',
    crlfKeepAlive: true,
    invalidViaHost: false,
    carrier: (host: TransportHost): ProtocolTransport => new TlsTransport(host),
  },
  ws: {
    reliable: true,
    secure: false,
    defaultPort: 80,
    srvService: '_sip._ws',
    naptrService: 'SIP+D2W',
    uriTransport: 'ws',
    viaTransport: 'WS',
    crlfKeepAlive: false,
    invalidViaHost: true,
    carrier: (host: TransportHost): ProtocolTransport => new WebSocketTransport(host, 'ws'),
  },
  wss: {
    reliable: true,
    secure: true,
    defaultPort: 443,
    srvService: '_sips._ws',
    naptrService: 'SIPS+D2W',
    uriTransport: 'ws',
    viaTransport: 'WSS',
    crlfKeepAlive: false,
    invalidViaHost: true,
    carrier: (host: TransportHost): ProtocolTransport => new WebSocketTransport(host, 'wss'),
  },
} as const satisfies Record<string, ProtocolEntry>;

/** The transports of RFC 3261 §18 plus WebSocket (RFC 7118): the keys of the table. */
export type TransportProtocol = keyof typeof TABLE;

/** The table, by protocol. */
export const PROTOCOLS: Readonly<Record<TransportProtocol, ProtocolFacts>> = TABLE;

/** The transport that carries a protocol (for the transport layer). */
export function protocolCarrier(
  protocol: TransportProtocol,
): (host: TransportHost) => ProtocolTransport {
  return TABLE[protocol].carrier;
}

/** Every protocol, in the table's order (UDP first). */
export const PROTOCOL_NAMES: readonly TransportProtocol[] = Object.keys(
  TABLE,
) as TransportProtocol[];

/** Whether a string names a protocol of the table (any case). */
export function isTransportProtocol(name: string): name is TransportProtocol {
  return Object.hasOwn(TABLE, name);
}

/** 'UDP' (a Via transport token) or 'udp' to a TransportProtocol, or undefined (SCTP, unknown). */
export function protocolFromToken(token: string): TransportProtocol | undefined {
  const lower = token.toLowerCase();
  return isTransportProtocol(lower) ? lower : undefined;
}

/** Whether a protocol is reliable (§17: no retransmissions by the transaction layer). */
export function isReliableProtocol(protocol: TransportProtocol): boolean {
  return TABLE[protocol].reliable;
}

/** Whether a protocol runs over TLS (the transport of sips: URIs). */
export function isSecureProtocol(protocol: TransportProtocol): boolean {
  return TABLE[protocol].secure;
}

/** Default port of a protocol (§19.1.2; RFC 7118 §3 for WebSocket: 80 and 443). */
export function defaultPort(protocol: TransportProtocol): number {
  return TABLE[protocol].defaultPort;
}

/** The URI scheme for a protocol: sips: over TLS (§19.1, §26.2.2), else sip:. */
export function uriScheme(protocol: TransportProtocol): 'sip' | 'sips' {
  return TABLE[protocol].secure ? 'sips' : 'sip';
}

/** The `;transport=` URI parameter value for a protocol (`tcp` for tls, `ws` for wss). */
export function uriTransportParam(protocol: TransportProtocol): string {
  return TABLE[protocol].uriTransport;
}

/**
 * The protocol a URI's `transport=` value names (RFC 3263 §4.1), secured for a sips: URI:
 * `tcp` with sips: is tls, `ws` with sips: is wss; the deprecated `tls` and the common `wss`
 * are read too. Undefined for a value no transport here carries (sctp, unknown).
 */
export function protocolForUri(param: string, sips: boolean): TransportProtocol | undefined {
  const value = param.toLowerCase();
  if (value === 'tls' || value === 'wss') return value;
  let plain: TransportProtocol | undefined;
  let secured: TransportProtocol | undefined;
  for (const name of PROTOCOL_NAMES) {
    const facts = TABLE[name];
    if (facts.uriTransport !== value) continue;
    if (facts.secure) secured ??= name;
    else plain ??= name;
  }
  return sips ? (secured ?? plain) : (plain ?? secured);
}

/** The protocol a NAPTR service field names (RFC 3263 §4.1), or undefined. */
export function protocolForNaptr(service: string): TransportProtocol | undefined {
  const upper = service.toUpperCase();
  return PROTOCOL_NAMES.find((name) => TABLE[name].naptrService === upper);
}
