// Builds small pcap files for the analyzer's tests: Ethernet / IPv4 / UDP or TCP records, written
// by hand so a test can hold exactly the packets it needs (RTP with no SIP, a broken SIP message,
// SIP over WebSocket).

const PCAP_MAGIC = 0xa1b2c3d4;
const PCAP_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
const LINKTYPE_ETHERNET = 1;
const ETHERNET_HEADER_LENGTH = 14;
const ETHERTYPE_OFFSET = 12;
const ETHERTYPE_IPV4 = 0x0800;
const IPV4_HEADER_LENGTH = 20;
const IP_PROTO_UDP = 17;
const IP_PROTO_TCP = 6;
const UDP_HEADER_LENGTH = 8;
const TCP_HEADER_LENGTH = 20;
const TCP_FLAGS_PSH_ACK = 0x18;
const TCP_FLAGS_SYN = 0x02;
const TCP_FLAGS_SYN_ACK = 0x12;

export interface UdpDatagram {
  /** Seconds since the epoch. */
  ts: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  payload: Buffer;
}

/** One TCP segment (data with PSH+ACK, or a bare SYN / SYN-ACK when `syn` is set). */
export interface TcpSegmentSpec extends UdpDatagram {
  tcp: true;
  seq: number;
  syn?: 'syn' | 'syn-ack';
}

/** A pcap file (microsecond timestamps, Ethernet) holding the datagrams in the order given. */
export function buildUdpPcap(datagrams: Array<UdpDatagram | TcpSegmentSpec>): Buffer {
  const header = Buffer.alloc(PCAP_HEADER_LENGTH);
  header.writeUInt32LE(PCAP_MAGIC, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  const records = datagrams.map((p) => {
    const tcp = 'tcp' in p;
    const udpLength = (tcp ? TCP_HEADER_LENGTH : UDP_HEADER_LENGTH) + p.payload.length;
    const ipLength = IPV4_HEADER_LENGTH + udpLength;
    const frame = Buffer.alloc(ETHERNET_HEADER_LENGTH + ipLength);
    frame.writeUInt16BE(ETHERTYPE_IPV4, ETHERTYPE_OFFSET);
    const ip = ETHERNET_HEADER_LENGTH;
    frame[ip] = 0x45; // version 4, 5 words
    frame.writeUInt16BE(ipLength, ip + 2);
    frame[ip + 8] = 64; // TTL
    frame[ip + 9] = tcp ? IP_PROTO_TCP : IP_PROTO_UDP;
    p.src.split('.').forEach((o, i) => (frame[ip + 12 + i] = Number(o)));
    p.dst.split('.').forEach((o, i) => (frame[ip + 16 + i] = Number(o)));
    let sum = 0;
    for (let i = ip; i < ip + IPV4_HEADER_LENGTH; i += 2) sum += frame.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
    frame.writeUInt16BE(~sum & 0xffff, ip + 10);
    const l4 = ip + IPV4_HEADER_LENGTH;
    frame.writeUInt16BE(p.sport, l4);
    frame.writeUInt16BE(p.dport, l4 + 2);
    if ('tcp' in p) {
      frame.writeUInt32BE(p.seq >>> 0, l4 + 4);
      frame[l4 + 12] = (TCP_HEADER_LENGTH / 4) << 4;
      frame[l4 + 13] =
        p.syn === 'syn'
          ? TCP_FLAGS_SYN
          : p.syn === 'syn-ack'
            ? TCP_FLAGS_SYN_ACK
            : TCP_FLAGS_PSH_ACK;
      frame.writeUInt16BE(65535, l4 + 14);
      p.payload.copy(frame, l4 + TCP_HEADER_LENGTH);
    } else {
      frame.writeUInt16BE(udpLength, l4 + 4);
      p.payload.copy(frame, l4 + UDP_HEADER_LENGTH);
    }
    const rec = Buffer.alloc(RECORD_HEADER_LENGTH);
    const micros = Math.round(p.ts * 1e6);
    rec.writeUInt32LE(Math.floor(micros / 1e6), 0);
    rec.writeUInt32LE(micros % 1e6, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    return Buffer.concat([rec, frame]);
  });
  return Buffer.concat([header, ...records]);
}
