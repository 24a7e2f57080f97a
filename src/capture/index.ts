// Public API of the capture layer: readers, decoder, WebSocket deframing, HEPv3.
export { CaptureError, LinkType, type CaptureFrame } from './capture-frame.ts';
export { CaptureReader } from './capture-reader.ts';
export {
  readCaptureFile,
  readCaptureRecords,
  type ReadCaptureOptions,
  type ReadCaptureResult,
} from './read-capture-file.ts';
export type { HepInfo, Packet, TcpData } from './packet.ts';
export type { FrameRecordHandler } from './parse-state.ts';
export { UdpView } from './udp-view.ts';
export {
  PacketDecoder,
  type DecoderLimits,
  type DecoderStats,
  type PacketHandlers,
} from './packet-decoder.ts';
export { DEFAULT_FRAGMENT_LIMITS, type FragmentLimits } from './ip-fragments.ts';
export { DEFAULT_TCP_LIMITS, type TcpLimits } from './tcp-reassembly.ts';
export { WebSocketDeframer, isWebSocketUpgrade, findHttpHeadEnd } from './websocket.ts';
export { decodeHep3, isHep3, HEP3_PORT } from './hep3.ts';
export { addressWords, ipv4ToString, ipv6ToString } from './ip-address.ts';
// Fixture and export helpers (tests of other layers can build captures with these).
export {
  writePcap,
  writePcapng,
  type FrameToWrite,
  type PcapOptions,
  type PcapngInterface,
  type PcapngPacket,
  type PcapngSection,
} from './capture-writer.ts';
export {
  ethernetFrame,
  ipPacket,
  ipv4Packet,
  ipv6Packet,
  ipv4Fragments,
  ipv6Fragments,
  tcpSegment,
  udpSegment,
  TcpFlag,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from './packet-builder.ts';
