// What the analyzer needs from an SDP body (RFC 4566, parsed by the media layer): where each RTP
// stream will be received (c= address, m= port) and what its payload type numbers mean (static
// table of RFC 3551 plus a=rtpmap). These endpoints are how RTP is found and tied to a call, as
// Wireshark does.
import {
  mediaAddress,
  mediaCodecs,
  parseSdp,
  sdpSummary,
  STATIC_PAYLOAD_TYPES,
} from '../media/index.ts';

export interface PayloadFormat {
  /** Encoding name as written in rtpmap or RFC 3551's table: 'PCMU', 'PCMA', 'telephone-event'. */
  name: string;
  clockRate: number;
}

export interface MediaEndpoint {
  /** c= address (media level, else session level). */
  address: string;
  port: number;
  /** 'audio', 'video', ... */
  media: string;
  formats: Map<number, PayloadFormat>;
}

export interface SessionMedia {
  endpoints: MediaEndpoint[];
  /** Short text for a ladder arrow: 'SDP PCMU,telephone-event 10.0.0.1:4000'. */
  summary: string;
}

/** The static meaning of a payload type number, if RFC 3551 gives it one. */
export function staticPayloadFormat(payloadType: number): PayloadFormat | undefined {
  const map = STATIC_PAYLOAD_TYPES[payloadType];
  return map ? { name: map.encoding, clockRate: map.clockRate } : undefined;
}

/** Reads the media endpoints of an SDP body; undefined when it is not usable SDP. */
export function readSessionMedia(text: string): SessionMedia | undefined {
  return scanCommonSdp(text) ?? readSessionMediaFully(text);
}

/** readSessionMedia through the media layer's full SDP parser. */
export function readSessionMediaFully(text: string): SessionMedia | undefined {
  let sdp: ReturnType<typeof parseSdp>;
  try {
    sdp = parseSdp(text);
  } catch {
    return undefined;
  }
  const endpoints: MediaEndpoint[] = [];
  for (const m of sdp.media) {
    const address = mediaAddress(sdp, m)?.address;
    if (address === undefined || !Number.isInteger(m.port) || m.port <= 0) continue;
    const formats = new Map<number, PayloadFormat>();
    for (const codec of mediaCodecs(m)) {
      formats.set(codec.payloadType, { name: codec.encoding, clockRate: codec.clockRate });
    }
    endpoints.push({ address, port: m.port, media: m.type, formats });
  }
  return { endpoints, summary: `SDP ${sdpSummary(sdp)}` };
}

// ---------------------------------------------------------------- the common case, quickly
//
// Nearly every SDP body in a capture is the plain kind phones write: v o s c t m a lines, one
// address per c=, rtpmap as 'PT name/rate'. scanCommonSdp reads exactly that in one pass over the
// lines and gives the same endpoints and summary as the full parser (the media layer's parseSdp
// and sdpSummary); on anything else it returns undefined and the full parser decides.

const LINE_TYPE = /^[a-z]=/;
const C_LINE = /^c=IN (IP4|IP6) ([^\s/]+)$/;
const M_LINE = /^m=(\S+) (\d+) (\S+)((?: \S+)*)$/;
const RTPMAP = /^a=rtpmap:(\d+) ([\w.-]+)\/(\d+)(?:\/\d+)?$/;
const DIRECTION_ATTRIBUTES = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);
const ORIGIN_FIELDS = 6;

interface ScannedMedia {
  type: string;
  port: number;
  formats: string[];
  rtpmap: Map<number, PayloadFormat>;
  address?: { type: string; address: string };
  direction?: string;
}

/** The endpoints and summary of a plain SDP body, or undefined to leave it to the full parser. */
export function scanCommonSdp(text: string): SessionMedia | undefined {
  const lines = text.split(/\r\n|\r|\n/);
  let sessionAddress: { type: string; address: string } | undefined;
  let sessionDirection: string | undefined;
  let origin = false;
  let first = true;
  const media: ScannedMedia[] = [];
  let current: ScannedMedia | undefined;
  for (const line of lines) {
    if (line.length === 0) continue;
    if (first) {
      if (!line.startsWith('v=')) return undefined;
      first = false;
    }
    if (!LINE_TYPE.test(line)) return undefined;
    const type = line.charCodeAt(0);
    if (type === 0x6d /* m */) {
      const m = M_LINE.exec(line);
      if (!m) return undefined;
      current = {
        type: m[1]!,
        port: Number(m[2]),
        formats: m[4]!.split(' ').filter((f) => f.length > 0),
        rtpmap: new Map(),
      };
      media.push(current);
    } else if (type === 0x63 /* c */) {
      const c = C_LINE.exec(line);
      if (!c) return undefined;
      const address = { type: c[1]!, address: c[2]! };
      if (current) {
        if (current.address) return undefined;
        current.address = address;
      } else {
        if (sessionAddress) return undefined;
        sessionAddress = address;
      }
    } else if (type === 0x6f /* o */) {
      if (current || line.slice(2).split(' ').length < ORIGIN_FIELDS) return undefined;
      origin = true;
    } else if (type === 0x61 /* a */) {
      const body = line.slice(2);
      if (DIRECTION_ATTRIBUTES.has(body)) {
        if (current) current.direction = body;
        else sessionDirection = body;
      } else if (body.startsWith('rtpmap:')) {
        if (!current) return undefined;
        const r = RTPMAP.exec(line);
        if (!r) return undefined;
        const pt = Number(r[1]);
        if (current.rtpmap.has(pt)) return undefined;
        current.rtpmap.set(pt, { name: r[2]!, clockRate: Number(r[3]) });
      }
    }
  }
  if (first || !origin) return undefined;
  const endpoints: MediaEndpoint[] = [];
  const parts: string[] = [];
  for (const m of media) {
    const connection = m.address ?? sessionAddress;
    // The codecs in m= order: rtpmap, else the static table (as the media layer's mediaCodecs).
    const formats = new Map<number, PayloadFormat>();
    const names: string[] = [];
    for (const format of m.formats) {
      const pt = Number(format);
      if (!Number.isInteger(pt)) continue;
      const f = m.rtpmap.get(pt) ?? staticPayloadFormat(pt) ?? { name: `PT${pt}`, clockRate: 0 };
      formats.set(pt, f);
      names.push(f.name);
    }
    if (connection !== undefined && m.port > 0) {
      endpoints.push({ address: connection.address, port: m.port, media: m.type, formats });
    }
    const kind = m.type === 'audio' ? '' : `${m.type} `;
    if (m.port === 0) {
      parts.push(`${kind}rejected`.trim());
      continue;
    }
    const codecs = names.length > 0 ? names.join(',') : m.formats.join(',');
    const host = connection
      ? connection.type === 'IP6'
        ? `[${connection.address}]`
        : connection.address
      : '?';
    const direction = m.direction ?? sessionDirection ?? 'sendrecv';
    parts.push(
      `${kind}${codecs} ${host}:${m.port}${direction === 'sendrecv' ? '' : ` ${direction}`}`,
    );
  }
  const summary = media.length === 0 ? '(no media)' : parts.join('; ');
  return { endpoints, summary: `SDP ${summary}` };
}
