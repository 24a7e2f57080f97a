// SIPp scenarios the interop tests share, made from parameters.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A SIPp caller that sends an INVITE offering PCMA, plays `pcap`'s G.711 audio once answered
 * (SIPp's play_pcap_audio), waits `pauseMs` and hangs up; 100/180/183 may come at any time.
 */
export function uacPlayingPcap(pcap: string, pauseMs: number): string {
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="relay uac: G.711 from a pcap">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8
      a=rtpmap:8 PCMA/8000
    ]]>
  </send>
  <recv response="100" optional="global"/>
  <recv response="180" optional="global"/>
  <recv response="183" optional="global"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <nop>
    <action>
      <exec play_pcap_audio="${pcap}"/>
    </action>
  </nop>
  <pause milliseconds="${pauseMs}"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
`;
}

/** An SDP offer of PCMU at SIPp's media address (for callers that play nothing). */
const PCMU_OFFER = `v=0
      o=user1 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
`;

/**
 * An in-dialog request of SIPp's caller along the Record-Route it learnt (`rrs="true"` on the
 * 200): Request-URI [next_url], the route set as [routes]. `retrans` for a BYE (a UDP request
 * that wants its 200), none for an ACK.
 */
function inDialog(method: 'ACK' | 'BYE', from: string, cseq: number): string {
  return `  <send${method === 'BYE' ? ' retrans="500"' : ''}>
    <![CDATA[
      ${method} [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: ${from}
      [last_To:]
      Call-ID: [call_id]
      CSeq: ${cseq} ${method}
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>`;
}

/**
 * An INVITE with PCMU from `from` to `to` (Request-URI `uri`), Contact `contact`; `auth`: the
 * line answering a challenge (SIPp's [authentication ...]), none on a first INVITE.
 */
/** A scenario's INVITE with a PCMU offer, retransmitted every 500 ms over UDP. */
export function invite(
  uri: string,
  from: string,
  to: string,
  contact: string,
  cseq: number,
  auth = '',
): string {
  return `  <send retrans="500">
    <![CDATA[
      INVITE ${uri} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: ${from}
      To: ${to}
      Call-ID: [call_id]
      CSeq: ${cseq} INVITE
      Contact: ${contact}${
        auth
          ? `
      ${auth}`
          : ''
      }
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      ${PCMU_OFFER}
    ]]>
  </send>`;
}

/** 100/180/183 at any point, then the 200 whose Record-Route the dialog follows. */
/** The ACK of a final failure to the INVITE of CSeq 1 (same branch: the last Via, §17.1.1.3). */
export function ackOfFailure(uri: string, from: string): string {
  return `  <send>
    <![CDATA[
      ACK ${uri} SIP/2.0
      [last_Via:]
      From: ${from}
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>`;
}

const ANSWERED = `  <recv response="100" optional="global" />
  <recv response="180" optional="global" />
  <recv response="183" optional="global" />
  <recv response="200" rrs="true" />`;

/**
 * A caller that is a local user: INVITE sip:[service]@DOMAIN from sip:USER@DOMAIN, answers the
 * 407 with [authentication], follows the Record-Route ([routes], [next_url]) for ACK and BYE,
 * holds the call `pauseMs`, then hangs up. 100/180/183 may arrive at any point.
 */
export function callerWithAuth(
  user: string,
  password: string,
  domain: string,
  pauseMs: number,
): string {
  const from = `<sip:${user}@${domain}>;tag=[pid]SIPpTag00[call_number]`;
  const uri = `sip:[service]@${domain}`;
  const contact = `<sip:${user}@[local_ip]:[local_port]>`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller answering 407">
${invite(uri, from, `<${uri}>`, contact, 1)}
  <recv response="100" optional="true" />
  <recv response="407" auth="true" />
${ackOfFailure(uri, from)}
${invite(uri, from, `<${uri}>`, contact, 2, `[authentication username=${user} password=${password}]`)}
${ANSWERED}
${inDialog('ACK', from, 2)}
  <pause milliseconds="${pauseMs}" />
${inDialog('BYE', from, 3)}
  <recv response="200" />
</scenario>
`;
}

/**
 * A trunk caller (no auth) that logs each call's Call-ID once answered (`answered ID` in its
 * -trace_logs file), holds the call `pauseMs` (long: the test kills it first), then hangs up.
 */
export function holdingCaller(pauseMs: number): string {
  const from = 'sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]';
  const uri = 'sip:[service]@[remote_ip]:[remote_port]';
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller holding its call">
${invite(uri, from, `<${uri}>`, '<sip:sipp@[local_ip]:[local_port]>', 1)}
${ANSWERED}
${inDialog('ACK', from, 1)}
  <nop>
    <action>
      <log message="answered [call_id]" />
    </action>
  </nop>
  <pause milliseconds="${pauseMs}" />
${inDialog('BYE', from, 2)}
  <recv response="200" />
</scenario>
`;
}

/**
 * SIPp's built-in uac with one change: the 200 it waits for after its BYE must answer that BYE
 * (start_txn / response_txn). As built in, that recv takes a 200 of any method it sent, so when
 * its ACK and its BYE are both lost (-lost 10: about 1 call in 100) our retransmitted 200 of the
 * INVITE, which the ACK would have stopped, passes for the BYE's 200: SIPp ends the call and
 * never resends the BYE, and the phone, which got neither, keeps the call until 64*T1.
 * With the transaction named, that 200 is taken for what it is and ACKed again (SIPp resends the
 * ACK for a 2xx of the INVITE), and the BYE is resent until its own 200 comes.
 */
export function uacByeByTransaction(sippPath: string, dir: string): string[] {
  // `sipp -sd` prints the scenario and exits with 99: read its output, not its status.
  const dump = spawnSync(sippPath, ['-sd', 'uac'], { encoding: 'utf8' }).stdout;
  const bye = /<send retrans="500">(\s*<!\[CDATA\[\s*BYE )/;
  const byeOk = /<recv response="200" crlf="true">/;
  assert.match(dump, bye);
  assert.match(dump, byeOk);
  const xml = dump
    .replace(bye, '<send retrans="500" start_txn="bye">$1')
    .replace(byeOk, '<recv response="200" crlf="true" response_txn="bye">');
  const file = join(dir, 'uac-bye-by-transaction.xml');
  writeFileSync(file, xml);
  return ['-sf', file];
}

/** A SIPp `<send>` of a bodiless 200 OK to the last request received (a BYE's answer, say). */
export const SEND_200_TO_LAST = `<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>`;
