// What the decoder hands out: one UDP datagram or a run of in-order TCP bytes.

/** HEPv3 details of an unwrapped packet. `payloadType` is HEP chunk 11 (1 = SIP, 5 = RTCP...). */
export interface HepInfo {
  version: 3;
  captureId?: number;
  payloadType?: number;
}

/**
 * A transport payload with its addresses. The decoder creates a new object per call, but
 * `payload` may be a view into the reader's reused chunk: copy it if you keep it.
 */
export interface Packet {
  /** Frame number (for TCP, of the segment that carried these bytes). */
  frame: number;
  ts: number;
  ipVersion: 4 | 6;
  /** Canonical text: '10.0.0.1', '2001:db8::1'. */
  src: string;
  dst: string;
  proto: 'udp' | 'tcp';
  srcPort: number;
  dstPort: number;
  /** Payload bytes (a view: copy if kept). */
  payload: Buffer;
  /** Set when unwrapped from HEPv3: the addresses are the inner (HEP) ones. */
  hep?: HepInfo;
}

/** In-order bytes of ONE direction of a TCP connection. */
export interface TcpData extends Packet {
  proto: 'tcp';
  /** Identifies the connection and direction; a new connection on the same ports gets a new id. */
  streamId: number;
}
