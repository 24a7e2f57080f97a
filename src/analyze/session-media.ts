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
