// A live analysis from start to end: a source (a pcap stream on stdin, an interface through the
// capture tool, a HEPv3 socket) feeding one LiveAnalysis, what was captured saved with
// `--write` (rotated by size), and a clock that reports calls once they are over.
import type { Readable } from 'node:stream';
import {
  decodeHep3,
  HepCollector,
  LinkType,
  LiveCapture,
  PacketFrames,
  PcapFileWriter,
  readCaptureStream,
} from '../capture/index.ts';
import type { CaptureError, CaptureTool, HepAddress } from '../capture/index.ts';
import { LiveAnalysis } from './live-analysis.ts';
import type { LiveAnalysisOptions } from './live-analysis.ts';

const TICK_MS = 250;

export type LiveSource =
  | { kind: 'stream'; stream: Readable; name: string }
  | { kind: 'interface'; iface: string; bpf?: string; tool?: CaptureTool }
  | { kind: 'hep'; address: HepAddress };

export interface LiveWriteOptions {
  path: string;
  /** Start a new file past this size (0: one file). */
  limitBytes?: number;
  /** Keep at most this many files (0: all). */
  files?: number;
}

export interface LiveSessionOptions extends LiveAnalysisOptions {
  source: LiveSource;
  write?: LiveWriteOptions;
  /** Stop after this many seconds (default: until the stream ends or stop()). */
  durationSeconds?: number;
}

/** What the session says when it has started. */
export interface LiveStarted {
  /** 'stdin', 'lo', 'hep udp:127.0.0.1:9060' (the bound port). */
  source: string;
  /** The bound HEP port (useful with port 0). */
  port?: number;
  /** The HEP socket's receive buffer, as granted by the kernel. */
  receiveBufferBytes?: number;
  tool?: CaptureTool;
}

export interface LiveEnd {
  frames: number;
  calls: number;
  reported: number;
  evicted: number;
  /** Packets the kernel dropped (capture tool's count) or HEP datagrams not decodable. */
  dropped?: number;
  hepInvalid?: number;
  written?: { path: string; files: number; frames: number; skipped: number };
  error?: CaptureError;
}

export class LiveSession {
  readonly live: LiveAnalysis;
  private readonly options: LiveSessionOptions;
  private writer: PcapFileWriter | undefined;
  private writerLinkType = -1;
  /** Frames not written because their link type differs from the file's. */
  private skipped = 0;
  private hepInvalid = 0;
  private readonly frames = new PacketFrames();
  private capture: LiveCapture | undefined;
  private collector: HepCollector | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopTimer: NodeJS.Timeout | undefined;
  private finished: ((end: LiveEnd) => void) | undefined;
  private error: CaptureError | undefined;
  private ended = false;
  /** Resolves when the source is over (end of stream, stop(), duration) and all is reported. */
  readonly done: Promise<LiveEnd>;

  constructor(options: LiveSessionOptions) {
    this.options = options;
    this.live = new LiveAnalysis(options);
    this.done = new Promise((resolve) => (this.finished = resolve));
    if (options.write?.path && options.source.kind === 'hep') this.openWriter(LinkType.RAW);
  }

  /** Starts the source; resolves once it captures (rejects with the reason it cannot). */
  async start(): Promise<LiveStarted> {
    const s = this.options.source;
    let started: LiveStarted;
    if (s.kind === 'stream') {
      this.pump(s.stream);
      started = { source: s.name };
    } else if (s.kind === 'interface') {
      const capture = new LiveCapture({ iface: s.iface, bpf: s.bpf, tool: s.tool });
      this.capture = capture;
      this.pump(capture.stream);
      await capture.ready;
      started = { source: s.iface, tool: capture.tool };
    } else {
      const collector = new HepCollector((payload, ts) => this.hepMessage(payload, ts));
      this.collector = collector;
      const port = await collector.listen(s.address);
      started = {
        source: `hep udp:${s.address.address}:${port}`,
        port,
        receiveBufferBytes: collector.receiveBufferBytes,
      };
    }
    this.timer = setInterval(() => this.tick(), TICK_MS);
    if (this.options.durationSeconds !== undefined) {
      this.stopTimer = setTimeout(() => void this.stop(), this.options.durationSeconds * 1000);
    }
    return started;
  }

  /** Ends the capture: the tool or socket is stopped, and every call not reported yet is. */
  async stop(): Promise<LiveEnd> {
    if (this.capture) await this.capture.stop();
    else if (this.collector) {
      await this.collector.close();
      this.end();
    } else {
      const s = this.options.source;
      if (s.kind === 'stream') s.stream.destroy();
      this.end();
    }
    return this.done;
  }

  /** Reports what is over, and saves what is buffered to the file. */
  tick(): void {
    this.live.tick();
    this.writer?.flush();
  }

  private pump(stream: Readable): void {
    readCaptureStream(stream, (buf, start, end, index, ts, linkType) => {
      if (this.options.write?.path) this.writeFrame(buf, start, end, ts, linkType);
      this.live.record(buf, start, end, index, ts, linkType);
    }).then(
      (result) => {
        this.error = result.error;
        this.end();
      },
      () => this.end(),
    );
  }

  private hepMessage(payload: Buffer, ts: number): void {
    if (this.writer) {
      const inner = decodeHep3(payload, 0, ts);
      if (!inner) {
        this.hepInvalid++;
        return;
      }
      this.writer.write(inner.ts, this.frames.frame(inner));
    }
    this.live.hep(payload, ts);
  }

  private writeFrame(buf: Buffer, start: number, end: number, ts: number, linkType: number): void {
    if (!this.writer) this.openWriter(linkType);
    if (linkType !== this.writerLinkType) {
      this.skipped++;
      return;
    }
    this.writer!.write(ts, buf, start, end);
  }

  private openWriter(linkType: number): void {
    const w = this.options.write!;
    this.writerLinkType = linkType;
    this.writer = new PcapFileWriter(w.path, {
      linkType,
      limitBytes: w.limitBytes,
      files: w.files,
    });
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    clearTimeout(this.stopTimer);
    this.live.end();
    this.writer?.close();
    const calls = [...this.live.calls()].length;
    const out: LiveEnd = {
      frames: this.live.frames,
      calls,
      reported: this.live.reported,
      evicted: this.live.evicted,
    };
    const dropped = this.capture?.dropped;
    if (dropped !== undefined) out.dropped = dropped;
    if (this.collector) out.hepInvalid = this.hepInvalid;
    if (this.writer) {
      out.written = {
        path: this.writer.path,
        files: this.writer.fileCount,
        frames: this.writer.frames,
        skipped: this.skipped,
      };
    }
    if (this.error) out.error = this.error;
    this.finished!(out);
  }
}
