// The RTCP side of one RTP session for a two-party call: it produces a compound SR or RR plus
// SDES CNAME about every 5 seconds and a BYE at the end, from what we sent and from the
// RtpStreamStats of what we received. It holds no timer and no socket: the caller asks
// `due(now)` (or reads `nextReportAt`) and sends what `report(now)` returns.
//
// Report interval (RFC 3550 section 6.3, simplified): a call has two members and an audio
// stream of at most 64 kbit/s, so the computed interval (RTCP share 5 % of the session
// bandwidth, divided among the members) is always below the 5 s minimum: the deterministic
// interval is therefore the 5 s minimum itself, halved for the first report (6.2), and each
// actual interval is that value times a random factor in [0.5, 1.5] divided by e - 3/2 (the
// compensation of 6.3.1 for the timer reconsideration we do not do). Reconsideration and the
// BYE back-off are left out: with two members they make no difference.
//
// Report contents (6.4): an SR when we sent RTP since the last report, else an RR; one report
// block per remote source we received from in the interval, with fraction lost and cumulative
// lost per appendix A.3, the extended highest sequence number, the interarrival jitter, and
// LSR/DLSR from the last SR that source sent us (so that it can compute the round-trip time).

import type { RtpStreamStats } from './rtp-stream-stats.ts';
import {
  marshalRtcp,
  ntpFromUnixMs,
  ntpMiddle32,
  SDES_CNAME,
  type ReceptionReport,
  type RtcpPacket,
} from './rtcp.ts';

/** RFC 3550 6.2: the minimum report interval, seconds. */
export const RTCP_MIN_INTERVAL_SECONDS = 5;
/** RFC 3550 6.3.1: e - 3/2, the compensation for randomized intervals. */
const COMPENSATION = Math.E - 1.5;

export interface RtcpSessionOptions {
  /** Our SSRC. */
  ssrc: number;
  /** Our canonical name (RFC 3550 6.5.1), for example user@host. */
  cname: string;
  /** RTP clock rate of what we send (8000 for G.711). */
  clockRate?: number;
  /** Deterministic interval, seconds (default 5). */
  intervalSeconds?: number;
  /** Random numbers in [0, 1): injectable for tests (default Math.random). */
  random?: () => number;
  /** Time the session starts, Unix ms. */
  startMs: number;
}

interface RemoteSource {
  stats: RtpStreamStats;
  /** Packets received at the previous report, to skip silent sources. */
  packetsAtLastReport: number;
  lastSr?: number;
  lastSrReceivedMs?: number;
}

export class RtcpSession {
  readonly ssrc: number;
  readonly cname: string;
  private readonly clockRate: number;
  private readonly interval: number;
  private readonly random: () => number;
  private readonly sources = new Map<number, RemoteSource>();

  private packetsSent = 0;
  private octetsSent = 0;
  private sentSinceReport = false;
  private lastRtpTimestamp = 0;
  private lastRtpSentMs = 0;
  /** When the next report is due, Unix ms. */
  nextReportAt: number;

  constructor(options: RtcpSessionOptions) {
    this.ssrc = options.ssrc >>> 0;
    this.cname = options.cname;
    this.clockRate = options.clockRate ?? 8000;
    this.interval = (options.intervalSeconds ?? RTCP_MIN_INTERVAL_SECONDS) * 1000;
    this.random = options.random ?? Math.random;
    this.nextReportAt = options.startMs + this.randomInterval(this.interval / 2);
  }

  private randomInterval(base: number): number {
    return (base * (0.5 + this.random())) / COMPENSATION;
  }

  /** Records one RTP packet we sent. */
  rtpSent(payloadOctets: number, rtpTimestamp: number, nowMs: number): void {
    this.packetsSent++;
    this.octetsSent += payloadOctets;
    this.sentSinceReport = true;
    this.lastRtpTimestamp = rtpTimestamp >>> 0;
    this.lastRtpSentMs = nowMs;
  }

  /** Tells the session about a remote source and the statistics kept for it. */
  addSource(ssrc: number, stats: RtpStreamStats): void {
    this.sources.set(ssrc >>> 0, { stats, packetsAtLastReport: 0 });
  }

  removeSource(ssrc: number): void {
    this.sources.delete(ssrc >>> 0);
  }

  /** Takes note of received RTCP: SRs give the LSR/DLSR of our next reports. */
  rtcpReceived(packets: RtcpPacket[], nowMs: number): void {
    for (const packet of packets) {
      if (packet.type !== 'sr') continue;
      const source = this.sources.get(packet.ssrc);
      if (!source) continue;
      source.lastSr = ntpMiddle32(packet.senderInfo.ntpTimestamp);
      source.lastSrReceivedMs = nowMs;
    }
  }

  /** Whether a report should be sent now. */
  due(nowMs: number): boolean {
    return nowMs >= this.nextReportAt;
  }

  /** The packets of the compound report for now (SR or RR, then SDES); schedules the next one. */
  reportPackets(nowMs: number): RtcpPacket[] {
    const reports: ReceptionReport[] = [];
    for (const [ssrc, source] of this.sources) {
      const packets = source.stats.snapshot().packets;
      if (packets === source.packetsAtLastReport) continue;
      source.packetsAtLastReport = packets;
      const interval = source.stats.takeReceptionInterval();
      const report: ReceptionReport = {
        ssrc,
        fractionLost: interval.fractionLost,
        cumulativeLost: interval.cumulativeLost,
        extendedHighestSequence: interval.extendedHighestSequence,
        jitter: interval.jitter,
        lastSr: 0,
        delaySinceLastSr: 0,
      };
      if (source.lastSr !== undefined && source.lastSrReceivedMs !== undefined) {
        report.lastSr = source.lastSr;
        report.delaySinceLastSr = Math.round(((nowMs - source.lastSrReceivedMs) / 1000) * 65536);
      }
      reports.push(report);
      if (reports.length === 31) break; // one packet holds at most 31 blocks
    }
    const packets: RtcpPacket[] = [];
    if (this.sentSinceReport) {
      const elapsedTicks = Math.round(((nowMs - this.lastRtpSentMs) * this.clockRate) / 1000);
      packets.push({
        type: 'sr',
        ssrc: this.ssrc,
        senderInfo: {
          ntpTimestamp: ntpFromUnixMs(nowMs),
          rtpTimestamp: (this.lastRtpTimestamp + elapsedTicks) >>> 0,
          packetCount: this.packetsSent >>> 0,
          octetCount: this.octetsSent >>> 0,
        },
        reports,
      });
    } else {
      packets.push({ type: 'rr', ssrc: this.ssrc, reports });
    }
    packets.push({
      type: 'sdes',
      chunks: [{ ssrc: this.ssrc, items: [{ type: SDES_CNAME, text: this.cname }] }],
    });
    this.sentSinceReport = false;
    this.nextReportAt = nowMs + this.randomInterval(this.interval);
    return packets;
  }

  /** The compound report for now, as bytes; schedules the next one. */
  report(nowMs: number): Buffer {
    return marshalRtcp(this.reportPackets(nowMs));
  }

  /** A final compound RR/SR + SDES + BYE (RFC 3550 6.6). */
  bye(nowMs: number, reason?: string): Buffer {
    const packets = this.reportPackets(nowMs);
    packets.push(
      reason
        ? { type: 'bye', sources: [this.ssrc], reason }
        : { type: 'bye', sources: [this.ssrc] },
    );
    return marshalRtcp(packets);
  }
}
