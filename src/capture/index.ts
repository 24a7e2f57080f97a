/**
 * Public API of the capture layer: readers, decoder, WebSocket deframing, HEPv3.
 *
 * @module trapezoid/capture
 */
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
export { decodeHep3, encodeHep3, isHep3, HEP3_PORT } from './hep3.ts';
export { readCaptureStream, type CaptureStreamResult } from './read-capture-stream.ts';
export {
  LiveCapture,
  pickTool,
  type CaptureTool,
  type LiveCaptureOptions,
} from './live-capture.ts';
export { HepCollector, parseHepAddress, type HepAddress } from './hep-collector.ts';
export { PcapFileWriter, type PcapFileWriterOptions } from './pcap-file-writer.ts';
export { PacketFrames, type FramedPayload } from './packet-frames.ts';
export { addressWords, ipv4ToString, ipv6ToString } from './ip-address.ts';
// Writing captures (pcap, pcapng). The packet builders that make test frames
// (./packet-builder.ts) are not part of the surface: tests import that file directly.
export {
  writePcap,
  writePcapng,
  type FrameToWrite,
  type PcapOptions,
  type PcapngInterface,
  type PcapngPacket,
  type PcapngSection,
} from './capture-writer.ts';
