// Session Description Protocol (RFC 4566/8866) as SIP uses it for RTP audio (RFC 3264, 3551,
// 4568 crypto, 3605 rtcp, 5761 rtcp-mux).
//
//   v=0
//   o=<username> <sess-id> <sess-version> IN IP4|IP6 <address>
//   s=<session name>
//   c=IN IP4|IP6 <connection address>          (session level, or in every m= section)
//   t=<start> <stop>
//   a=<session attributes>                      (sendrecv|sendonly|recvonly|inactive, ...)
//   m=<media> <port>[/<count>] <proto> <fmt> ...
//   c=...                                       (media level, overrides the session's)
//   a=rtpmap:<pt> <encoding>/<clock>[/<channels>]
//   a=fmtp:<pt> <parameters>
//   a=ptime:<ms>
//   a=crypto:<tag> <suite> <key-params> [<session-params>]
//
// Parsing leans on sdp-transform for the attribute grammar, reads m=/o= lines itself (it
// does not accept "port/count"), keeps the raw text, and derives what callers usually need:
// the effective address and direction of each stream and the codec of every format, static
// payload types included. formatSdp writes a description back in one fixed order with CRLF
// line ends, so equal descriptions give equal bytes.

import sdpTransform from 'sdp-transform';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
export type AddressType = 'IP4' | 'IP6';

export class SdpParseError extends Error {
  override name = 'SdpParseError';
}

export interface SdpConnection {
  addressType: AddressType;
  address: string;
}

export interface RtpMap {
  payloadType: number;
  encoding: string;
  clockRate: number;
  channels?: number;
}

export interface SdpCrypto {
  tag: number;
  suite: string;
  keyParams: string;
  sessionParams?: string;
}

/** An attribute kept as written: a=name or a=name:value. */
export interface SdpAttribute {
  name: string;
  value?: string;
}

export interface SdpOrigin {
  username: string;
  /** Kept as text: session ids are often larger than 2^53. */
  sessionId: string;
  sessionVersion: string;
  addressType: AddressType;
  address: string;
}

export interface MediaDescription {
  /** audio, video, application, ... */
  type: string;
  port: number;
  /** The "/count" of the m= line, when present. */
  portCount?: number;
  /** RTP/AVP, RTP/SAVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF, ... */
  proto: string;
  /** The formats of the m= line as written (payload type numbers for RTP). */
  formats: string[];
  /** Media-level c= line. */
  connection?: SdpConnection;
  /** a=rtpmap lines as written. */
  rtpmap: RtpMap[];
  /** a=fmtp parameters by payload type. */
  fmtp: Record<number, string>;
  ptime?: number;
  maxptime?: number;
  /** Media-level direction attribute as written. */
  direction?: Direction;
  crypto: SdpCrypto[];
  /** a=rtcp port (RFC 3605), with its address when given. */
  rtcp?: { port: number; connection?: SdpConnection };
  rtcpMux: boolean;
  /** Every other media-level attribute, in order. */
  attributes: SdpAttribute[];
}

export interface SessionDescription {
  version: number;
  origin: SdpOrigin;
  sessionName: string;
  /** Session-level c= line. */
  connection?: SdpConnection;
  timing: { start: number; stop: number };
  /** Session-level direction attribute as written. */
  direction?: Direction;
  /** Every other session-level attribute, in order. */
  attributes: SdpAttribute[];
  media: MediaDescription[];
}

/** A parsed description with its source text. */
export interface ParsedSdp extends SessionDescription {
  raw: string;
}

/** Static RTP payload types of RFC 3551 table 4 that SIP phones meet. */
export const STATIC_PAYLOAD_TYPES: Readonly<Record<number, RtpMap>> = {
  0: { payloadType: 0, encoding: 'PCMU', clockRate: 8000 },
  3: { payloadType: 3, encoding: 'GSM', clockRate: 8000 },
  4: { payloadType: 4, encoding: 'G723', clockRate: 8000 },
  5: { payloadType: 5, encoding: 'DVI4', clockRate: 8000 },
  6: { payloadType: 6, encoding: 'DVI4', clockRate: 16000 },
  7: { payloadType: 7, encoding: 'LPC', clockRate: 8000 },
  8: { payloadType: 8, encoding: 'PCMA', clockRate: 8000 },
  9: { payloadType: 9, encoding: 'G722', clockRate: 8000 },
  10: { payloadType: 10, encoding: 'L16', clockRate: 44100, channels: 2 },
  11: { payloadType: 11, encoding: 'L16', clockRate: 44100 },
  12: { payloadType: 12, encoding: 'QCELP', clockRate: 8000 },
  13: { payloadType: 13, encoding: 'CN', clockRate: 8000 },
  14: { payloadType: 14, encoding: 'MPA', clockRate: 90000 },
  15: { payloadType: 15, encoding: 'G728', clockRate: 8000 },
  16: { payloadType: 16, encoding: 'DVI4', clockRate: 11025 },
  17: { payloadType: 17, encoding: 'DVI4', clockRate: 22050 },
  18: { payloadType: 18, encoding: 'G729', clockRate: 8000 },
  26: { payloadType: 26, encoding: 'JPEG', clockRate: 90000 },
  31: { payloadType: 31, encoding: 'H261', clockRate: 90000 },
  34: { payloadType: 34, encoding: 'H263', clockRate: 90000 },
};

const DIRECTIONS: readonly string[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];
/** Attributes that have their own field (kept out of `attributes`). */
const OWN_FIELD_ATTRIBUTES = new Set([
  'rtpmap',
  'fmtp',
  'ptime',
  'maxptime',
  'crypto',
  'rtcp',
  'rtcp-mux',
  ...DIRECTIONS,
]);

function connectionOf(c: { version: number; ip: string } | undefined): SdpConnection | undefined {
  if (!c || !c.ip) return undefined;
  // c=IN IP4 224.2.1.1/127/3: keep the address without TTL and count.
  return { addressType: c.version === 6 ? 'IP6' : 'IP4', address: c.ip.split('/')[0]! };
}

function attributeOf(line: string): SdpAttribute {
  const body = line.slice(2);
  const colon = body.indexOf(':');
  return colon < 0 ? { name: body } : { name: body.slice(0, colon), value: body.slice(colon + 1) };
}

/**
 * Parses an SDP body. Throws SdpParseError when the text is not SDP (no v= line, an m= line that
 * cannot be read, a missing o= line).
 */
export function parseSdp(text: string): ParsedSdp {
  const lines = text.split(/\r\n|\r|\n/).filter((l) => l.length > 0);
  if (!lines[0]?.startsWith('v=')) throw new SdpParseError('SDP must start with a v= line');
  for (const [i, line] of lines.entries()) {
    if (!/^[a-z]=/.test(line))
      throw new SdpParseError(`line ${i + 1} is not <type>=<value>: ${JSON.stringify(line)}`);
  }
  const parsed = sdpTransform.parse(text);

  // Split the raw lines into the session part and one part per m= line.
  const sections: string[][] = [[]];
  for (const line of lines) {
    if (line.startsWith('m=')) sections.push([]);
    sections[sections.length - 1]!.push(line);
  }
  const sessionLines = sections[0]!;

  const originLine = sessionLines.find((l) => l.startsWith('o='));
  if (!originLine) throw new SdpParseError('no o= line');
  const o = originLine.slice(2).split(' ');
  if (o.length < 6) throw new SdpParseError(`bad o= line: ${originLine}`);
  const origin: SdpOrigin = {
    username: o[0]!,
    sessionId: o[1]!,
    sessionVersion: o[2]!,
    addressType: o[4] === 'IP6' ? 'IP6' : 'IP4',
    address: o[5]!,
  };

  const session: ParsedSdp = {
    raw: text,
    version: Number(parsed.version ?? 0),
    origin,
    sessionName: parsed.name ?? '',
    timing: { start: Number(parsed.timing?.start ?? 0), stop: Number(parsed.timing?.stop ?? 0) },
    attributes: sessionLines
      .filter((l) => l.startsWith('a='))
      .map(attributeOf)
      .filter((a) => !DIRECTIONS.includes(a.name)),
    media: [],
  };
  const sessionConnection = connectionOf(parsed.connection);
  if (sessionConnection) session.connection = sessionConnection;
  if (parsed.direction) session.direction = parsed.direction;

  const parsedMedia = parsed.media ?? [];
  for (let i = 1; i < sections.length; i++) {
    const section = sections[i]!;
    const mLine = section[0]!;
    const m = /^m=(\S+) (\d+)(?:\/(\d+))? (\S+)(?: (.*))?$/.exec(mLine);
    if (!m) throw new SdpParseError(`bad m= line: ${mLine}`);
    const p = parsedMedia[i - 1];
    const media: MediaDescription = {
      type: m[1]!,
      port: Number(m[2]),
      proto: m[4]!,
      formats: (m[5] ?? '').split(' ').filter((f) => f.length > 0),
      rtpmap: (p?.rtp ?? []).map((r) => {
        const map: RtpMap = { payloadType: r.payload, encoding: r.codec, clockRate: r.rate ?? 0 };
        if (r.encoding !== undefined) map.channels = Number(r.encoding);
        return map;
      }),
      fmtp: Object.fromEntries((p?.fmtp ?? []).map((f) => [f.payload, f.config])),
      crypto: (p?.crypto ?? []).map((c) => {
        const crypto: SdpCrypto = { tag: c.id, suite: c.suite, keyParams: c.config };
        if (c.sessionConfig) crypto.sessionParams = c.sessionConfig;
        return crypto;
      }),
      rtcpMux: section.includes('a=rtcp-mux'),
      attributes: section
        .filter((l) => l.startsWith('a='))
        .map(attributeOf)
        .filter((a) => !OWN_FIELD_ATTRIBUTES.has(a.name)),
    };
    if (m[3] !== undefined) media.portCount = Number(m[3]);
    const connection = connectionOf(p?.connection);
    if (connection) media.connection = connection;
    if (p?.ptime !== undefined) media.ptime = Number(p.ptime);
    if (p?.maxptime !== undefined) media.maxptime = Number(p.maxptime);
    if (p?.direction) media.direction = p.direction;
    if (p?.rtcp) {
      media.rtcp = { port: p.rtcp.port };
      if (p.rtcp.address) {
        media.rtcp.connection = {
          addressType: p.rtcp.ipVer === 6 ? 'IP6' : 'IP4',
          address: p.rtcp.address,
        };
      }
    }
    session.media.push(media);
  }
  return session;
}

/** The address RTP for this media goes to: the media-level c= or else the session-level one. */
export function mediaAddress(
  session: SessionDescription,
  media: MediaDescription,
): SdpConnection | undefined {
  return media.connection ?? session.connection;
}

/** The direction in force for this media: media level, else session level, else sendrecv. */
export function mediaDirection(session: SessionDescription, media: MediaDescription): Direction {
  return media.direction ?? session.direction ?? 'sendrecv';
}

/** The codec of every format of an RTP m= line, in m= order: rtpmap, or the static table. */
export function mediaCodecs(media: MediaDescription): RtpMap[] {
  const out: RtpMap[] = [];
  for (const format of media.formats) {
    const pt = Number(format);
    if (!Number.isInteger(pt)) continue;
    const map = media.rtpmap.find((r) => r.payloadType === pt) ?? STATIC_PAYLOAD_TYPES[pt];
    out.push(map ?? { payloadType: pt, encoding: `PT${pt}`, clockRate: 0 });
  }
  return out;
}

function formatConnection(c: SdpConnection): string {
  return `c=IN ${c.addressType} ${c.address}`;
}

function formatAttribute(a: SdpAttribute): string {
  return a.value === undefined ? `a=${a.name}` : `a=${a.name}:${a.value}`;
}

/**
 * Writes a description as SDP text, CRLF line ends, in this order: v o s c t, session
 * attributes, session direction; per m= section: m c, rtpmap and fmtp per format in m= order
 * (then those of unlisted payload types), ptime, maxptime, crypto, rtcp, rtcp-mux, other
 * attributes, direction.
 */
export function formatSdp(sdp: SessionDescription): string {
  const lines: string[] = [];
  const o = sdp.origin;
  lines.push(`v=${sdp.version}`);
  lines.push(`o=${o.username} ${o.sessionId} ${o.sessionVersion} IN ${o.addressType} ${o.address}`);
  lines.push(`s=${sdp.sessionName || '-'}`);
  if (sdp.connection) lines.push(formatConnection(sdp.connection));
  lines.push(`t=${sdp.timing.start} ${sdp.timing.stop}`);
  for (const a of sdp.attributes) lines.push(formatAttribute(a));
  if (sdp.direction) lines.push(`a=${sdp.direction}`);
  for (const m of sdp.media) {
    const port = m.portCount !== undefined ? `${m.port}/${m.portCount}` : `${m.port}`;
    lines.push(`m=${m.type} ${port} ${m.proto}${m.formats.map((f) => ` ${f}`).join('')}`);
    if (m.connection) lines.push(formatConnection(m.connection));
    // rtpmap/fmtp in m= order, then any for payload types the m= line does not list.
    const order = m.formats.map(Number).filter((pt) => Number.isInteger(pt));
    for (const pt of [...m.rtpmap.map((r) => r.payloadType), ...Object.keys(m.fmtp).map(Number)]) {
      if (!order.includes(pt)) order.push(pt);
    }
    for (const pt of order) {
      const map = m.rtpmap.find((r) => r.payloadType === pt);
      if (map) {
        const channels = map.channels !== undefined ? `/${map.channels}` : '';
        lines.push(`a=rtpmap:${pt} ${map.encoding}/${map.clockRate}${channels}`);
      }
      const fmtp = m.fmtp[pt];
      if (fmtp !== undefined) lines.push(`a=fmtp:${pt} ${fmtp}`);
    }
    if (m.ptime !== undefined) lines.push(`a=ptime:${m.ptime}`);
    if (m.maxptime !== undefined) lines.push(`a=maxptime:${m.maxptime}`);
    for (const c of m.crypto) {
      lines.push(
        `a=crypto:${c.tag} ${c.suite} ${c.keyParams}${c.sessionParams ? ` ${c.sessionParams}` : ''}`,
      );
    }
    if (m.rtcp) {
      const at = m.rtcp.connection
        ? ` IN ${m.rtcp.connection.addressType} ${m.rtcp.connection.address}`
        : '';
      lines.push(`a=rtcp:${m.rtcp.port}${at}`);
    }
    if (m.rtcpMux) lines.push('a=rtcp-mux');
    for (const a of m.attributes) lines.push(formatAttribute(a));
    if (m.direction) lines.push(`a=${m.direction}`);
  }
  return lines.join('\r\n') + '\r\n';
}

function hostPort(c: SdpConnection | undefined, port: number): string {
  const address = c ? (c.addressType === 'IP6' ? `[${c.address}]` : c.address) : '?';
  return `${address}:${port}`;
}

/**
 * One line per description, for ladders and logs: each m= section as
 * "PCMU,telephone-event 10.0.0.1:4000", with the media type first when it is not audio, the
 * direction when it is not sendrecv, "rejected" for port 0; sections joined by "; ".
 * Text that is not SDP gives "(not SDP)".
 */
export function sdpSummary(text: string | SessionDescription): string {
  let sdp: SessionDescription;
  try {
    sdp = typeof text === 'string' ? parseSdp(text) : text;
  } catch {
    return '(not SDP)';
  }
  if (sdp.media.length === 0) return '(no media)';
  return sdp.media
    .map((m) => {
      const type = m.type === 'audio' ? '' : `${m.type} `;
      if (m.port === 0) return `${type}rejected`.trim();
      const names = mediaCodecs(m).map((c) => c.encoding);
      const codecs = names.length > 0 ? names.join(',') : m.formats.join(',');
      const direction = mediaDirection(sdp, m);
      return `${type}${codecs} ${hostPort(mediaAddress(sdp, m), m.port)}${direction === 'sendrecv' ? '' : ` ${direction}`}`;
    })
    .join('; ');
}
