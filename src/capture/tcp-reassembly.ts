// TCP stream reassembly (RFC 9293 §3.4 sequence numbers): in-order bytes per direction.
import type { TcpData } from './packet.ts';

export const TCP_FLAG_FIN = 0x01;
export const TCP_FLAG_SYN = 0x02;
export const TCP_FLAG_RST = 0x04;
export const TCP_FLAG_ACK = 0x10;

export interface TcpLimits {
  /** Out-of-order bytes held per direction before the missing bytes are given up as a gap. */
  maxBufferedPerStream: number;
  /** Directions tracked at once; the oldest are ended beyond this. */
  maxStreams: number;
}

export const DEFAULT_TCP_LIMITS: TcpLimits = {
  maxBufferedPerStream: 1024 * 1024,
  maxStreams: 200000,
};

export interface TcpHandlers {
  onData(d: TcpData): void;
  onEnd?(streamId: number): void;
  warn(msg: string, frame: number): void;
}

/** The fields of one TCP segment that reassembly needs. */
export interface TcpSegment {
  frame: number;
  ts: number;
  ipVersion: 4 | 6;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  flags: number;
  payload: Buffer;
  hep: TcpData['hep'];
}

interface Held {
  seq: number;
  data: Buffer;
  fin: boolean;
  frame: number;
  ts: number;
}

interface Stream {
  id: number;
  key: string;
  reverseKey: string;
  isn: number;
  nextSeq: number;
  held: Held[];
  heldBytes: number;
  ended: boolean;
  ipVersion: 4 | 6;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  hep: TcpData['hep'];
}

/** Signed distance a - b in 32-bit sequence space. */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export class TcpReassembler {
  private readonly streams = new Map<string, Stream>();
  private readonly handlers: TcpHandlers;
  private readonly limits: TcpLimits;
  private nextId = 1;

  constructor(handlers: TcpHandlers, limits: Partial<TcpLimits> = {}) {
    this.handlers = handlers;
    this.limits = { ...DEFAULT_TCP_LIMITS, ...limits };
  }

  /** Directions tracked right now (ended ones are kept until evicted, to ignore retransmissions). */
  get size(): number {
    return this.streams.size;
  }

  segment(s: TcpSegment): void {
    const key = `${s.src} ${s.srcPort} ${s.dst} ${s.dstPort}`;
    const syn = (s.flags & TCP_FLAG_SYN) !== 0;
    let stream = this.streams.get(key);
    if (stream && syn && stream.isn !== s.seq) {
      // A new connection on the same address and ports.
      this.end(stream, s.frame);
      this.streams.delete(key);
      stream = undefined;
    }
    if (!stream) {
      if (syn && !(s.flags & TCP_FLAG_ACK)) {
        // A connection opening: what the other direction held belongs to an older connection.
        const reverseKey = `${s.dst} ${s.dstPort} ${s.src} ${s.srcPort}`;
        const old = this.streams.get(reverseKey);
        if (old) {
          this.end(old, s.frame);
          this.streams.delete(reverseKey);
        }
      }
      if (this.streams.size >= this.limits.maxStreams) this.evictOldest(s.frame);
      stream = {
        id: this.nextId++,
        key,
        reverseKey: `${s.dst} ${s.dstPort} ${s.src} ${s.srcPort}`,
        isn: syn ? s.seq : -1,
        nextSeq: syn ? (s.seq + 1) >>> 0 : s.seq,
        held: [],
        heldBytes: 0,
        ended: false,
        ipVersion: s.ipVersion,
        src: s.src,
        dst: s.dst,
        srcPort: s.srcPort,
        dstPort: s.dstPort,
        hep: s.hep,
      };
      this.streams.set(key, stream);
    }
    if (stream.ended) return;
    const start = syn ? (s.seq + 1) >>> 0 : s.seq;
    const fin = (s.flags & TCP_FLAG_FIN) !== 0;
    if (s.payload.length > 0 || fin) {
      const ahead = seqDiff(start, stream.nextSeq);
      if (ahead > 0) this.hold(stream, start, s.payload, fin, s.frame, s.ts);
      else {
        this.take(stream, start, s.payload, fin, s.frame, s.ts);
        this.drain(stream);
      }
    }
    if (s.flags & TCP_FLAG_RST) {
      this.end(stream, s.frame);
      const reverse = this.streams.get(stream.reverseKey);
      if (reverse) this.end(reverse, s.frame);
    }
  }

  /** Delivers what is still held (skipping gaps, with a warning) and ends every open stream. */
  finish(): void {
    for (const stream of this.streams.values()) this.end(stream, 0);
    this.streams.clear();
  }

  /** Takes bytes that start at or before nextSeq and delivers what is new; FIN closes. */
  private take(
    stream: Stream,
    start: number,
    data: Buffer,
    fin: boolean,
    frame: number,
    ts: number,
  ): void {
    const skip = -seqDiff(start, stream.nextSeq);
    if (skip < data.length) {
      this.deliver(stream, skip === 0 ? data : data.subarray(skip), frame, ts);
      stream.nextSeq = (start + data.length) >>> 0;
    }
    if (fin && seqDiff((start + data.length) >>> 0, stream.nextSeq) === 0) {
      stream.nextSeq = (stream.nextSeq + 1) >>> 0;
      this.close(stream);
    }
  }

  /** Delivers held segments that the stream has now reached. */
  private drain(stream: Stream): void {
    const held = stream.held;
    while (held.length > 0 && !stream.ended && seqDiff(held[0].seq, stream.nextSeq) <= 0) {
      const h = held.shift() as Held;
      stream.heldBytes -= h.data.length;
      this.take(stream, h.seq, h.data, h.fin, h.frame, h.ts);
    }
  }

  private hold(
    stream: Stream,
    seq: number,
    data: Buffer,
    fin: boolean,
    frame: number,
    ts: number,
  ): void {
    const held = stream.held;
    let i = held.length;
    while (i > 0 && seqDiff(held[i - 1].seq, seq) > 0) i--;
    // The same segment seen again (retransmission while out of order): keep the longer one.
    if (
      i > 0 &&
      held[i - 1].seq === seq &&
      held[i - 1].data.length >= data.length &&
      (held[i - 1].fin || !fin)
    )
      return;
    held.splice(i, 0, { seq, data: Buffer.from(data), fin, frame, ts });
    stream.heldBytes += data.length;
    while (
      stream.heldBytes > this.limits.maxBufferedPerStream &&
      held.length > 0 &&
      !stream.ended
    ) {
      this.skipGap(stream, frame);
    }
  }

  /** Gives up on the bytes missing before the first held segment. */
  private skipGap(stream: Stream, frame: number): void {
    const first = stream.held[0];
    const gap = seqDiff(first.seq, stream.nextSeq);
    if (gap > 0) {
      this.handlers.warn(
        `tcp stream ${stream.id} (${stream.key}): ${gap} bytes never captured, skipped`,
        frame,
      );
      stream.nextSeq = first.seq;
    }
    this.drain(stream);
  }

  /** Ends a stream that did not close in order: delivers what is held, skipping the gaps. */
  private end(stream: Stream, frame: number): void {
    while (stream.held.length > 0 && !stream.ended)
      this.skipGap(stream, frame || stream.held[0].frame);
    this.close(stream);
  }

  private close(stream: Stream): void {
    if (stream.ended) return;
    stream.ended = true;
    stream.held = [];
    stream.heldBytes = 0;
    this.handlers.onEnd?.(stream.id);
  }

  private evictOldest(frame: number): void {
    const oldest = this.streams.values().next().value;
    if (!oldest) return;
    if (!oldest.ended)
      this.handlers.warn(`too many tcp streams: stream ${oldest.id} ended early`, frame);
    this.end(oldest, frame);
    this.streams.delete(oldest.key);
  }

  private deliver(stream: Stream, payload: Buffer, frame: number, ts: number): void {
    this.handlers.onData({
      frame,
      ts,
      ipVersion: stream.ipVersion,
      src: stream.src,
      dst: stream.dst,
      proto: 'tcp',
      srcPort: stream.srcPort,
      dstPort: stream.dstPort,
      payload,
      hep: stream.hep,
      streamId: stream.id,
    });
  }
}
