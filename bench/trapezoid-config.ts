// The `trapezoid serve` config the proxy benches run: configured like bench/kamailio/proxy.cfg,
// calls to "service" go over a trunk to a SIPp uas, and calls from the SIPp uac are taken as from
// a trunk allowed transit. Its CDRs go to its SQLite database, as they must.

export interface ProxyBenchPorts {
  /** trapezoid's SIP (UDP) and HTTP ports. */
  sip: number;
  http: number;
  /** Where the SIPp uas listens, and where the SIPp uac sends from. */
  uas: number;
  uac: number;
}

/** The YAML text of the config, its database at `database`. */
export function proxyBenchConfig(
  ports: ProxyBenchPorts,
  database: string,
  opts: { memoryTargetMb?: number; overloadOff?: boolean } = {},
): string {
  return [
    'domain: bench.trapezoid',
    `listen: [{ transport: udp, address: 127.0.0.1, port: ${ports.sip} }]`,
    `database: ${database}`,
    `http: { address: 127.0.0.1, port: ${ports.http} }`,
    'trunks:',
    `  - { name: uas, peers: [{ host: 127.0.0.1, port: ${ports.uas} }] }`,
    `  - { name: uac, peers: [{ host: 127.0.0.1, port: ${ports.uac} }], transit: true }`,
    'dialplan:',
    '  - { match: { regex: "^service$" }, route: { action: trunk, trunk: uas } }',
    ...(opts.memoryTargetMb === undefined ? [] : [`memory: { targetMb: ${opts.memoryTargetMb} }`]),
    ...(opts.overloadOff ? ['overload: { shedAbove: 0 }'] : []),
  ].join('\n');
}
