// Counters of the call server, exposed in Prometheus text format on /metrics.

export class ServerMetrics {
  readonly requests = new Map<string, number>();
  readonly responses = new Map<string, number>();
  authFailures = 0;
  malformed = 0;

  countRequest(method: string): void {
    this.requests.set(method, (this.requests.get(method) ?? 0) + 1);
  }

  countResponse(status: number): void {
    const cls = `${Math.floor(status / 100)}xx`;
    this.responses.set(cls, (this.responses.get(cls) ?? 0) + 1);
  }

  /** Prometheus exposition text; gauges are read at scrape time. */
  render(gauges: { activeCalls: number; bindings: number; bans?: number }): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    family('trapezoid_sip_requests_total', 'counter', 'SIP requests received, by method.');
    for (const [m, n] of [...this.requests].sort()) {
      lines.push(`trapezoid_sip_requests_total{method="${m.replace(/["\\\n]/g, '_')}"} ${n}`);
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
    return lines.join('\n') + '\n';
  }
}
