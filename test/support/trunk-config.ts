// A `trapezoid serve` config for SIPp on both sides: calls to `service` from a SIPp UAC (trunk
// `in`, transit) go to a SIPp UAS (trunk `out`), on free loopback ports.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../ua-sipp-peer.ts';

export interface TrunkConfig {
  /** The config file. */
  cfg: string;
  sip: number;
  http: number;
  /** Where the SIPp UAS listens (trunk `out`) and where the SIPp UAC sends from (trunk `in`). */
  uasPort: number;
  uacPort: number;
}

/** Writes `${name}.yaml` (and its database `${name}.db`) in `dir`; `extra` lines are appended. */
export async function writeTrunkConfig(
  dir: string,
  name: string,
  extra: string[] = [],
): Promise<TrunkConfig> {
  const [sip, http, uasPort, uacPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(
    cfg,
    [
      `domain: ${name}.example`,
      `listen: [{ transport: udp, address: 127.0.0.1, port: ${sip} }]`,
      `database: ${join(dir, `${name}.db`)}`,
      `http: { address: 127.0.0.1, port: ${http} }`,
      'trunks:',
      `  - { name: out, peers: [{ host: 127.0.0.1, port: ${uasPort} }] }`,
      `  - { name: in, peers: [{ host: 127.0.0.1, port: ${uacPort} }], transit: true }`,
      'dialplan:',
      '  - { match: { regex: "^service$" }, route: { action: trunk, trunk: out } }',
      ...extra,
    ].join('\n'),
  );
  return { cfg, sip, http, uasPort, uacPort };
}

/**
 * SIPp's arguments for a caller on trunk `in` dialling `service`: `calls` is the scenario and its
 * limits (`['-sn', 'uac', '-m', '3']`); errors traced, `timeoutSeconds` for the whole run.
 */
export function callerArgs(c: TrunkConfig, calls: string[], timeoutSeconds: number): string[] {
  return [
    `127.0.0.1:${c.sip}`,
    ...calls,
    '-s',
    'service',
    '-p',
    String(c.uacPort),
    '-i',
    '127.0.0.1',
    '-nostdin',
    '-trace_err',
    '-timeout',
    `${timeoutSeconds}s`,
  ];
}

/** SIPp's arguments for the answering side trunk `out` goes to (its built-in UAS). */
export function calleeArgs(c: TrunkConfig): string[] {
  return ['-sn', 'uas', '-p', String(c.uasPort), '-i', '127.0.0.1', '-nostdin'];
}
