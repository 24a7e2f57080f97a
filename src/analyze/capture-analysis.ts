// One pass over a capture: frames -> packets (src/capture) -> SIP messages and RTP streams.
//
//   UDP   RTP on an SDP endpoint or a proven heuristic flow -> RtpTracker (checked first: an RTP
//         header's first byte, 0x80-0xBF, can never start a SIP message, which is A-Z)
//         SIP-looking payload ('SIP/2.0 ' or METHOD SP ... SIP/) -> CallTracker
//         anything else -> the RTP heuristics, then dropped
//   TCP   per direction of each connection (TcpData.streamId): SIP bytes go through the transport
//         layer's StreamFramer (Content-Length framing, RFC 3261 §18.3); a connection that opens
//         with an HTTP upgrade (RFC 6455) is WebSocket: after the handshake its frames are
//         unmasked by the capture layer's WebSocketDeframer and each message is SIP (RFC 7118).
//   HEP   unwrapped by the capture layer: the inner addresses and payload are used as above.
//
// Nothing here keeps a packet: per-call message records and per-stream counters only, plus RTP
// payloads of G.711 streams when audio export is asked for.
import {
  isWebSocketUpgrade,
  PacketDecoder,
  readCaptureRecords,
  WebSocketDeframer,
} from '../capture/index.ts';
import type { CaptureError, CaptureFrame, Packet, TcpData, UdpView } from '../capture/index.ts';
import { StreamFramer } from '../transport/stream-framer.ts';
import { CallTracker } from './call-tracker.ts';
import type { CallRecord, SipMessageRecord } from './call-tracker.ts';
import { RtpTracker } from './rtp-tracker.ts';
import type { RtpStream } from './rtp-tracker.ts';
import { SecurityFindings } from './security-findings.ts';
import { looksLikeSip } from './sip-sniff.ts';
import { StreamDtmf } from './stream-dtmf.ts';

const MAX_SIP_MESSAGE = 65535;
const MAX_HANDSHAKE = 16384;
const HEADER_END = Buffer.from('\r\n\r\n');

export interface CaptureAnalysisOptions {
  /** Keep SIP message bytes for ladders and reports (default true). */
  keepRaw?: boolean;
  /** Keep G.711 payloads for WAV export (default false). */
  keepAudio?: boolean;
  /** Look for security findings (`--security`; default false): SIP is parsed a second time. */
  security?: boolean;
  /** Called after each SIP message is filed under its call (live analysis). */
  onMessage?: (call: CallRecord, record: SipMessageRecord) => void;
}

type TcpMode = 'unknown' | 'sip' | 'ws-handshake' | 'ws';

interface TcpState {
  mode: TcpMode;
  framer?: StreamFramer;
  deframer?: WebSocketDeframer;
  handshake?: Buffer;
}

/** Incremental analysis: feed frames with `frame()`, then call `finish()`. */
export class CaptureAnalysis {
  readonly calls: CallTracker;
  readonly rtp: RtpTracker;
  readonly dtmf = new StreamDtmf();
  /** Security findings, when asked for. */
  readonly security: SecurityFindings | undefined;
  readonly warnings: string[] = [];
  frames = 0;
  udpPackets = 0;
  tcpSegments = 0;
  private readonly decoder: PacketDecoder;
  private readonly tcp = new Map<number, TcpState>();

  constructor(options: CaptureAnalysisOptions = {}) {
    this.security = options.security ? new SecurityFindings() : undefined;
    this.calls = new CallTracker({
      keepRaw: options.keepRaw ?? true,
      onMediaEndpoint: (callId, endpoint) => this.rtp.addEndpoint(callId, endpoint),
      onMessage: options.onMessage,
    });
    this.rtp = new RtpTracker({
      keepAudio: options.keepAudio ?? false,
      signallingEndpoints: this.calls.signallingEndpoints,
      onPacket: (stream, pt, payload, timestamp, arrival, marker) =>
        this.dtmf.packet(stream, pt, payload, timestamp, arrival, marker),
      // The packets a heuristic stream counts from before it proved itself are RTP in the clear
      // too (the cleartext finding counts every packet of every stream).
      onHeuristicStream: (stream, frames) => this.security?.rtpCandidates(frames, stream),
    });
    this.decoder = new PacketDecoder({
      // RTP of open streams without a Packet object or address text (the security findings
      // read every RTP packet as a Packet, so they take the ordinary path).
      onUdpView: this.security ? undefined : (v) => this.udpView(v),
      onUdp: (p) => {
        try {
          this.udp(p);
        } catch (err) {
          this.internalError(p.frame, err);
        }
      },
      onTcpData: (d) => {
        try {
          this.tcpData(d);
        } catch (err) {
          this.internalError(d.frame, err);
        }
      },
      onTcpEnd: (id) => this.tcp.delete(id),
      onWarning: (msg, frame) => this.warn(frame, msg),
    });
  }

  frame(f: CaptureFrame): void {
    this.frames++;
    this.decoder.decode(f);
  }

  /** `frame` for a frame given as a range of the reader's buffer (readCaptureRecords). */
  record(
    buf: Buffer,
    start: number,
    end: number,
    index: number,
    ts: number,
    linkType: number,
  ): void {
    this.frames++;
    this.decoder.decodeRecord(buf, start, end, index, ts, linkType);
  }

  /** One HEPv3 message from a collector socket (`--hep`): its inner packet, numbered as the next frame. */
  hep(payload: Buffer, ts: number): void {
    this.frames++;
    this.decoder.decodeHep(payload, this.frames, ts);
  }

  finish(): void {
    this.decoder.finish();
    this.dtmf.finish();
  }

  /**
   * Drops calls with their RTP streams and DTMF (live analysis keeps memory bounded this way),
   * and heuristic streams (of no call) that `dropStream` names.
   */
  forget(callIds: ReadonlySet<string>, dropStream?: (s: RtpStream) => boolean): void {
    for (const id of callIds) this.calls.forget(id);
    const gone = this.rtp.forget(
      (s) => (s.callId !== null && callIds.has(s.callId)) || (dropStream?.(s) ?? false),
      callIds,
    );
    for (const s of gone) this.dtmf.forget(s);
  }

  private warn(frame: number | undefined, msg: string): void {
    // A capture of a busy link can warn a lot; keep the report readable.
    if (this.warnings.length < 1000) {
      this.warnings.push(frame !== undefined ? `frame ${frame}: ${msg}` : msg);
    }
  }

  /** A packet the analyzer could not handle must not end the analysis: it becomes a warning. */
  private internalError(frame: number, err: unknown): void {
    this.warn(frame, `analyzer error: ${err instanceof Error ? err.message : String(err)}`);
  }

  private udpView(v: UdpView): boolean {
    try {
      if (!this.rtp.handleView(v)) return false;
    } catch (err) {
      this.internalError(v.frame, err);
    }
    this.udpPackets++;
    return true;
  }

  private udp(p: Packet): void {
    this.udpPackets++;
    const b = p.payload;
    if (this.rtp.handle(p)) {
      this.security?.rtp(p);
      return;
    }
    if (looksLikeSip(b)) {
      const origin = {
        frame: p.frame,
        ts: p.ts,
        src: p.src,
        srcPort: p.srcPort,
        dst: p.dst,
        dstPort: p.dstPort,
        transport: p.hep ? 'HEP' : 'UDP',
      };
      this.calls.ingest(b, origin);
      this.security?.sip(b, origin);
    }
  }

  private tcpData(d: TcpData): void {
    this.tcpSegments++;
    let st = this.tcp.get(d.streamId);
    if (!st) {
      st = { mode: 'unknown' };
      this.tcp.set(d.streamId, st);
    }
    let data = d.payload;
    if (st.mode === 'unknown') {
      if (looksLikeSip(data)) {
        st.mode = 'sip';
        st.framer = new StreamFramer({ maxMessageSize: MAX_SIP_MESSAGE });
      } else if (isWebSocketUpgrade(data)) {
        st.mode = 'ws-handshake';
        st.handshake = Buffer.alloc(0);
      } else {
        // Not (yet) at a message start: the capture may have begun mid-connection.
        return;
      }
    }
    if (st.mode === 'sip') {
      try {
        for (const msg of st.framer!.push(data)) this.sip(msg, d, 'TCP');
      } catch (err) {
        this.framingFailed(st, d, err);
      }
      return;
    }
    if (st.mode === 'ws-handshake') {
      const all = Buffer.concat([st.handshake!, data]);
      const end = all.indexOf(HEADER_END);
      if (end < 0) {
        st.handshake = all;
        if (all.length > MAX_HANDSHAKE) st.mode = 'unknown';
        return;
      }
      st.mode = 'ws';
      st.handshake = undefined;
      st.deframer = new WebSocketDeframer();
      data = all.subarray(end + HEADER_END.length);
      if (data.length === 0) return;
    }
    if (st.mode === 'ws') {
      let messages: Buffer[];
      try {
        messages = st.deframer!.push(data);
      } catch (err) {
        this.framingFailed(st, d, err);
        return;
      }
      for (const msg of messages) {
        if (looksLikeSip(msg)) this.sip(msg, d, 'WS');
      }
    }
  }

  private framingFailed(st: TcpState, d: TcpData, err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    this.calls.statistics.parseErrors++;
    this.calls.parseFailures.push({
      frame: d.frame,
      ts: d.ts,
      src: `${d.src}:${d.srcPort}`,
      dst: `${d.dst}:${d.dstPort}`,
      reason: `stream framing: ${reason}`,
    });
    st.mode = 'unknown';
    st.framer = undefined;
    st.deframer = undefined;
  }

  private sip(msg: Buffer, d: TcpData, transport: string): void {
    const origin = {
      frame: d.frame,
      ts: d.ts,
      src: d.src,
      srcPort: d.srcPort,
      dst: d.dst,
      dstPort: d.dstPort,
      transport,
    };
    this.calls.ingest(msg, origin);
    this.security?.sip(msg, origin);
  }
}

export interface CaptureReadResult {
  analysis: CaptureAnalysis;
  frames: number;
  bytes: number;
  error?: CaptureError;
}

/** Reads a whole capture file through a CaptureAnalysis. */
export async function analyzeCaptureFile(
  path: string,
  options: CaptureAnalysisOptions & {
    onProgress?: (bytesRead: number, totalBytes: number) => void;
  } = {},
): Promise<CaptureReadResult> {
  const analysis = new CaptureAnalysis(options);
  const result = await readCaptureRecords(
    path,
    (buf, start, end, index, ts, linkType) => analysis.record(buf, start, end, index, ts, linkType),
    { onProgress: options.onProgress },
  );
  analysis.finish();
  if (result.error) {
    analysis.warnings.push(
      `capture broken at byte ${result.error.offset} after frame ${result.error.frame}: ${result.error.reason}; analysed the frames before it`,
    );
  }
  return { analysis, frames: result.frames, bytes: result.bytes, error: result.error };
}
