// The incremental analyzer of a capture that has no end yet (`--live`, `-`, `--hep`): the same
// CaptureAnalysis that reads files, plus what a source running for hours needs.
//
//   - When a call is over: its outcome is final (call-summary.ts: answered and hung up,
//     rejected, cancelled; a REGISTER or OPTIONS answered) and nothing more came for
//     `lingerSeconds` of wall time (the BYE's 200, the last RTP packets). It is then reported
//     through `onCallEnd`, with its RTP streams and DTMF. A call that gets more messages after
//     that (a REGISTER refreshed on its Call-ID) is reported again when it settles again: the
//     last report of a Call-ID is the whole call.
//   - Memory: at most `maxCalls` calls are kept. Past it, the oldest calls already reported are
//     dropped with their streams (as sngrep's -l with -R rotates); when none is reported yet,
//     the oldest calls are reported as they stand and dropped. Heuristic RTP streams (of no
//     call) are dropped likewise once closed.
//   - Security findings (with `security`) are reported once each, as they first appear.
import type { LadderCall } from '../render/model.ts';
import { callReport } from './analysis-report.ts';
import type { RtpStreamSummary } from './analysis-report.ts';
import { CaptureAnalysis } from './capture-analysis.ts';
import type { CaptureAnalysisOptions } from './capture-analysis.ts';
import { callOutcome } from './call-summary.ts';
import type { CallRecord, SipMessageRecord } from './call-tracker.ts';
import type { SecurityFinding } from './security-findings.ts';

export const DEFAULT_MAX_CALLS = 10000;
const DEFAULT_LINGER_SECONDS = 2;
/** Share of maxCalls dropped at once when the limit is reached (one pass over the streams). */
const EVICT_SHARE = 0.05;

export interface FinishedCall {
  call: LadderCall;
  rtpStreams: RtpStreamSummary[];
}

export interface LiveAnalysisOptions extends Omit<CaptureAnalysisOptions, 'onMessage'> {
  /** Calls kept in memory (default 10000). */
  maxCalls?: number;
  /** Quiet time after a call's final outcome before it is reported (default 2 s). */
  lingerSeconds?: number;
  /** Each call once, when it is over (or when it is dropped, or at the end of the capture). */
  onCallEnd?: (finished: FinishedCall) => void;
  /** Each security finding once, when it first appears. */
  onFinding?: (finding: SecurityFinding) => void;
}

interface Activity {
  record: CallRecord;
  /** Wall time (ms) of the call's last message. */
  lastWall: number;
  /** The outcome is final (no longer 'in-progress'). */
  final: boolean;
  reported: boolean;
}

export class LiveAnalysis {
  readonly analysis: CaptureAnalysis;
  /** Calls dropped to keep within maxCalls. */
  evicted = 0;
  /** Calls reported through onCallEnd. */
  reported = 0;
  /** Goes up whenever a SIP message arrives (a view redraws when it changed). */
  version = 0;
  private readonly maxCalls: number;
  private readonly lingerMs: number;
  private readonly onCallEnd: LiveAnalysisOptions['onCallEnd'];
  private readonly onFinding: LiveAnalysisOptions['onFinding'];
  /** Every call kept, in order of first message. */
  private readonly activity = new Map<string, Activity>();
  /** Calls with a final outcome not reported yet. */
  private readonly settling = new Set<Activity>();
  private readonly findingsSeen = new Set<string>();
  private ended = false;

  constructor(options: LiveAnalysisOptions = {}) {
    this.maxCalls = Math.max(1, options.maxCalls ?? DEFAULT_MAX_CALLS);
    this.lingerMs = (options.lingerSeconds ?? DEFAULT_LINGER_SECONDS) * 1000;
    this.onCallEnd = options.onCallEnd;
    this.onFinding = options.onFinding;
    this.analysis = new CaptureAnalysis({
      ...options,
      onMessage: (call, record) => this.message(call, record),
    });
  }

  /** A frame given as a range of a reader's buffer (pcap from a pipe or a live capture). */
  record(
    buf: Buffer,
    start: number,
    end: number,
    index: number,
    ts: number,
    linkType: number,
  ): void {
    this.analysis.record(buf, start, end, index, ts, linkType);
  }

  /** One HEPv3 datagram from a collector socket. */
  hep(payload: Buffer, ts: number): void {
    this.analysis.hep(payload, ts);
  }

  get frames(): number {
    return this.analysis.frames;
  }

  /** Calls kept, oldest first. */
  calls(): IterableIterator<CallRecord> {
    return this.analysis.calls.calls.values();
  }

  /** Whether a call has been reported as over. */
  isOver(callId: string): boolean {
    return this.activity.get(callId)?.reported ?? false;
  }

  /** Reports calls that have been quiet since their outcome became final, and new findings. */
  tick(nowMs = Date.now()): void {
    for (const a of this.settling) {
      if (nowMs - a.lastWall >= this.lingerMs) this.report(a);
    }
    this.pollFindings();
  }

  /** End of the capture: every call not reported yet is reported as it stands. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.analysis.finish();
    for (const a of this.activity.values()) if (!a.reported) this.report(a);
    this.pollFindings();
  }

  private message(call: CallRecord, record: SipMessageRecord): void {
    this.version++;
    let a = this.activity.get(call.callId);
    if (!a) {
      a = { record: call, lastWall: 0, final: false, reported: false };
      this.activity.set(call.callId, a);
      if (this.activity.size > this.maxCalls) this.evict(call.callId);
    }
    a.lastWall = Date.now();
    if (a.reported) {
      // More after the report (a REGISTER refreshed on the same Call-ID, a re-INVITE): the call
      // is reported again once it settles, with everything it has by then.
      a.reported = false;
      a.final = false;
    }
    // Only a final response or an ending request can change the outcome to final.
    const ending =
      record.kind === 'response'
        ? record.status! >= 200
        : record.method === 'BYE' || record.method === 'CANCEL';
    if (ending && !a.final && callOutcome(call).state !== 'in-progress') {
      a.final = true;
      this.settling.add(a);
    }
  }

  private report(a: Activity): void {
    this.settling.delete(a);
    if (a.reported) return;
    a.reported = true;
    this.reported++;
    this.onCallEnd?.(callReport(this.analysis, a.record));
  }

  /** Drops the oldest calls (reported ones first) down to the limit less a margin. */
  private evict(newest: string): void {
    const target = Math.max(
      0,
      this.maxCalls - Math.max(1, Math.floor(this.maxCalls * EVICT_SHARE)),
    );
    const excess = this.activity.size - target;
    const drop = new Set<string>();
    for (const [id, a] of this.activity) {
      if (drop.size >= excess) break;
      if (a.reported) drop.add(id);
    }
    for (const [id, a] of this.activity) {
      if (drop.size >= excess) break;
      if (!drop.has(id) && a.record.messages.length > 0 && id !== newest) {
        this.report(a);
        drop.add(id);
      }
    }
    for (const id of drop) {
      const a = this.activity.get(id)!;
      this.settling.delete(a);
      this.activity.delete(id);
    }
    this.evicted += drop.size;
    // Heuristic streams of no call, closed: the oldest go too once they outnumber the limit.
    const streams = this.analysis.rtp.streams;
    let orphans = 0;
    for (const s of streams) if (s.callId === null && s.closed) orphans++;
    let toDrop = orphans - target;
    const dropStream =
      toDrop > 0
        ? (s: { callId: string | null; closed: boolean }): boolean =>
            s.callId === null && s.closed && toDrop-- > 0
        : undefined;
    this.analysis.forget(drop, dropStream);
  }

  private pollFindings(): void {
    const security = this.analysis.security;
    if (!security || !this.onFinding) return;
    for (const f of security.findings()) {
      const key = `${f.kind} ${f.frames[0] ?? f.text}`;
      if (this.findingsSeen.has(key)) continue;
      this.findingsSeen.add(key);
      this.onFinding(f);
    }
  }
}
