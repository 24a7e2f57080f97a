// SIP scanners and attack tools that name themselves in User-Agent: the one list the call
// server's security guard drops silently (its `security.scannerUserAgents` default) and the
// capture analyzer's security findings report. Substrings, lower case, matched without case.
//
// sipvicious (svmap/svwar/svcrack: 'friendly-scanner', 'sipvicious'), sipcli, sip-scan, SIVuS,
// iWar, sundayddr, pplsip, smap, and VaxSIPUserAgent (a VoIP SDK's default name, seen in scanning
// campaigns). Monitoring tools are not scanners: sipsak, the Nagios/Icinga check_sip probes and
// SIPp get their answers.

export const SCANNER_USER_AGENTS: readonly string[] = Object.freeze([
  'friendly-scanner',
  'sipvicious',
  'sipcli',
  'sip-scan',
  'sivus',
  'iwar',
  'sundayddr',
  'pplsip',
  'smap',
  'vaxsipuseragent',
]);

/** The entry of `list` (lower-case substrings) a User-Agent contains, or undefined. */
export function scannerAgentIn(
  userAgent: string,
  list: readonly string[] = SCANNER_USER_AGENTS,
): string | undefined {
  const lower = userAgent.toLowerCase();
  return list.find((s) => lower.includes(s));
}
