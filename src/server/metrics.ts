// Counters of the call server, exposed in Prometheus text format on /metrics.
import { KNOWN_METHODS } from '../sip/index.ts';
import type { MemoryTargetStats } from './memory-target.ts';
import type { OverloadStats } from './overload.ts';

/** What the security guard counted (src/server/security-guard.ts SecurityStats). */
export interface SecurityCounters {
  droppedBanned: number;
  droppedRate: number;
  droppedScanner: number;
  bansIssued: number;
}

/** The media relay's counters (src/server/media-relay.ts totals and gauges). */
export interface RelayCounters {
  sessions: number;
  packets: number;
  rtcpPackets: number;
  dropped: number;
  invalid: number;
  portPairsFree: number;
  /** Port pairs whose bind failed (used by another program). */
  bindFailures: number;
}

/**
 * The methods counted under their own name (sip's KNOWN_METHODS). Any other token is counted as
 * `other`: a label value comes from a closed set, so requests with invented methods cannot add
 * series to /metrics without bound.
 */
export const METRIC_METHODS: ReadonlySet<string> = new Set(KNOWN_METHODS);

export class ServerMetrics {
  readonly requests = new Map<string, number>();
  readonly responses = new Map<string, number>();
  authFailures = 0;
  malformed = 0;

  countRequest(method: string): void {
    const label = METRIC_METHODS.has(method) ? method : 'other';
    this.requests.set(label, (this.requests.get(label) ?? 0) + 1);
  }

  countResponse(status: number): void {
    const cls = `${Math.floor(status / 100)}xx`;
    this.responses.set(cls, (this.responses.get(cls) ?? 0) + 1);
  }

  /** Prometheus exposition text; gauges (and the guard's counters) are read at scrape time. */
  render(gauges: {
    activeCalls: number;
    bindings: number;
    bans?: number;
    security?: SecurityCounters;
    relay?: RelayCounters;
    memory?: MemoryTargetStats;
    overload?: OverloadStats;
  }): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    family(
      'trapezoid_sip_requests_total',
      'counter',
      'SIP requests received, by method (methods the server does not know: "other").',
    );
    for (const [m, n] of [...this.requests].sort()) {
      lines.push(`trapezoid_sip_requests_total{method="${m}"} ${n}`);
    }
    family('trapezoid_sip_responses_total', 'counter', 'SIP responses sent, by status class.');
    for (const [c, n] of [...this.responses].sort())
      lines.push(`trapezoid_sip_responses_total{class="${c}"} ${n}`);
    family('trapezoid_auth_failures_total', 'counter', 'Digest authentications that failed.');
    lines.push(`trapezoid_auth_failures_total ${this.authFailures}`);
    family('trapezoid_malformed_requests_total', 'counter', 'Requests refused as malformed (400).');
    lines.push(`trapezoid_malformed_requests_total ${this.malformed}`);
    family('trapezoid_active_calls', 'gauge', 'Calls set up or being set up now.');
    lines.push(`trapezoid_active_calls ${gauges.activeCalls}`);
    family('trapezoid_registrations', 'gauge', 'Registrar bindings that have not expired.');
    lines.push(`trapezoid_registrations ${gauges.bindings}`);
    if (gauges.bans !== undefined) {
      family('trapezoid_banned_sources', 'gauge', 'Sources banned now.');
      lines.push(`trapezoid_banned_sources ${gauges.bans}`);
    }
    const sec = gauges.security;
    if (sec) {
      family(
        'trapezoid_security_dropped_total',
        'counter',
        'Requests dropped silently by the guard, by reason.',
      );
      lines.push(`trapezoid_security_dropped_total{reason="banned"} ${sec.droppedBanned}`);
      lines.push(`trapezoid_security_dropped_total{reason="rate-limit"} ${sec.droppedRate}`);
      lines.push(`trapezoid_security_dropped_total{reason="scanner"} ${sec.droppedScanner}`);
      family('trapezoid_security_bans_total', 'counter', 'Bans issued (rate limit, brute force).');
      lines.push(`trapezoid_security_bans_total ${sec.bansIssued}`);
    }
    const overload = gauges.overload;
    if (overload) {
      family(
        'trapezoid_overload_refused_total',
        'counter',
        'New requests refused while overloaded: dropped (UDP, retransmitted later) or answered 503.',
      );
      lines.push(`trapezoid_overload_refused_total{how="dropped"} ${overload.dropped}`);
      lines.push(`trapezoid_overload_refused_total{how="503"} ${overload.rejected}`);
      family('trapezoid_overload_episodes_total', 'counter', 'Overload episodes since the start.');
      lines.push(`trapezoid_overload_episodes_total ${overload.episodes}`);
      family('trapezoid_overloaded', 'gauge', '1 while new requests are being refused.');
      lines.push(`trapezoid_overloaded ${overload.shedding ? 1 : 0}`);
    }
    family('trapezoid_resident_bytes', 'gauge', 'Resident memory of the process (RSS).');
    lines.push(`trapezoid_resident_bytes ${process.memoryUsage.rss()}`);
    const memory = gauges.memory;
    if (memory && memory.targetBytes > 0) {
      family(
        'trapezoid_memory_target_bytes',
        'gauge',
        'The soft memory target held (memory.targetMb).',
      );
      lines.push(`trapezoid_memory_target_bytes ${memory.targetBytes}`);
      family(
        'trapezoid_heap_growth',
        'gauge',
        'Heap growth over what is live set for the target after the last full collection (0: V8 chooses).',
      );
      lines.push(`trapezoid_heap_growth ${memory.growth}`);
      family(
        'trapezoid_heap_live_bytes',
        'gauge',
        'Old-generation bytes live after the last full collection.',
      );
      lines.push(`trapezoid_heap_live_bytes ${memory.liveBytes}`);
    }
    const relay = gauges.relay;
    if (relay) {
      family('trapezoid_relay_sessions', 'gauge', 'Calls whose media the relay carries now.');
      lines.push(`trapezoid_relay_sessions ${relay.sessions}`);
      family('trapezoid_relay_port_pairs_free', 'gauge', 'Relay port pairs left in the range.');
      lines.push(`trapezoid_relay_port_pairs_free ${relay.portPairsFree}`);
      family('trapezoid_relay_packets_total', 'counter', 'Packets relayed, by kind.');
      lines.push(`trapezoid_relay_packets_total{kind="rtp"} ${relay.packets}`);
      lines.push(`trapezoid_relay_packets_total{kind="rtcp"} ${relay.rtcpPackets}`);
      family(
        'trapezoid_relay_dropped_total',
        'counter',
        'Packets the relay dropped: from a source other than the latched one (injection), or not RTP.',
      );
      lines.push(`trapezoid_relay_dropped_total{reason="injection"} ${relay.dropped}`);
      lines.push(`trapezoid_relay_dropped_total{reason="invalid"} ${relay.invalid}`);
      family(
        'trapezoid_relay_bind_failures_total',
        'counter',
        'Relay ports that could not be bound (used by another program).',
      );
      lines.push(`trapezoid_relay_bind_failures_total ${relay.bindFailures}`);
    }
    return lines.join('\n') + '\n';
  }
}
