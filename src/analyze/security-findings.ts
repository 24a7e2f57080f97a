// Security findings of a capture (`trapezoid analyze --security`): fed the same SIP messages and
// RTP packets the analysis sees, one at a time, keeping bounded counters only. SIP findings are in
// sip-findings.ts, RTP findings in rtp-findings.ts; this file adds the one 'info' finding about
// cleartext signalling and media and puts them in order.
//
// Cleartext: the analyzer reads SIP only when it is not encrypted (UDP, TCP, WS), so any SIP it
// reads was readable by anyone on the path. RTP is cleartext unless its SDP offered a secure
// profile (RTP/SAVP, RTP/SAVPF, UDP/TLS/RTP/SAVP: SRTP) for that endpoint. SIP unwrapped from HEP
// was cleartext only on the mirror link, not necessarily on the wire: it is not counted.
import { parseMessage, parseTolerant, SipRequest } from '../sip/index.ts';
import type { SipMessage } from '../sip/index.ts';
import type { MessageOrigin } from './call-tracker.ts';
import { canonicalIp } from './finding-address.ts';
import { compareFindings, Evidence, plural } from './finding-evidence.ts';
import type { SecurityFinding } from './finding-evidence.ts';
import { RtpFindings } from './rtp-findings.ts';
import type { UdpPacket } from './rtp-tracker.ts';
import { SipFindings } from './sip-findings.ts';

export type { SecurityFinding, FindingKind, FindingSeverity } from './finding-evidence.ts';

/** Transports whose SIP the capture shows in the clear. */
const CLEARTEXT_TRANSPORTS = new Set(['UDP', 'TCP', 'WS', 'SCTP']);
/** SRTP endpoints remembered (address:port from SDP with a secure profile). */
const MAX_SECURE_ENDPOINTS = 10_000;
/** The media port at which SDP's profile field says SRTP. */
const SECURE_PROFILE = /\bSAVPF?\b/;

function firstLine(bytes: Buffer): string {
  const lf = bytes.indexOf(0x0a);
  return bytes.toString('latin1', 0, lf < 0 ? Math.min(bytes.length, 200) : lf);
}

export class SecurityFindings {
  private readonly sipFindings = new SipFindings();
  private readonly rtpFindings = new RtpFindings();
  private readonly clearSip = new Evidence();
  private readonly clearRtp = new Evidence();
  private readonly clearTransports = new Set<string>();
  private readonly secureEndpoints = new Set<string>();
  /** SIP messages parsed but with a header too broken to judge. */
  skipped = 0;

  /**
   * One SIP message as the analysis read it (bytes are parsed again; nothing is kept). A message
   * the strict parser refuses is a `malformed` finding's evidence and, read tolerantly, goes on
   * to the other findings like any message (a spoofed INVITE with a broken Request-URI is still
   * a spoofed INVITE).
   */
  sip(bytes: Buffer, origin: MessageOrigin): void {
    let msg: SipMessage;
    try {
      msg = parseMessage(bytes);
    } catch (strictError) {
      let read: SipMessage | undefined;
      let reason = strictError instanceof Error ? strictError.message : String(strictError);
      try {
        const reading = parseTolerant(bytes, strictError);
        read = reading.message;
        reason = reading.deviations[0]?.reason ?? reason;
      } catch {
        read = undefined;
      }
      const request = read ? read instanceof SipRequest : !/^\s*SIP\//i.test(firstLine(bytes));
      this.sipFindings.malformed(origin, reason, request);
      if (!read) return;
      msg = read;
    }
    if (CLEARTEXT_TRANSPORTS.has(origin.transport)) {
      this.clearSip.add(origin.frame);
      this.clearTransports.add(origin.transport);
    }
    try {
      if (msg.contentType === 'application/sdp') this.readSdp(msg.body.toString('latin1'));
      this.sipFindings.message(msg, origin);
    } catch {
      // A header the findings read (Contact, Authorization, ...) that does not parse: the call
      // tracker has the message; the findings skip it and count it.
      this.skipped++;
    }
  }

  /**
   * RTP packets a stream counted before the tracker knew it was RTP (the packets of a heuristic
   * candidate flow, counted once the flow proved itself): cleartext media like any other.
   */
  rtpCandidates(frames: readonly number[], p: Omit<UdpPacket, 'frame' | 'ts' | 'payload'>): void {
    if (!this.isSecure(p)) for (const frame of frames) this.clearRtp.add(frame);
  }

  /** One packet the RTP tracker took as RTP or RTCP. */
  rtp(p: UdpPacket): void {
    this.rtpFindings.packet(p);
    if (!this.isSecure(p)) this.clearRtp.add(p.frame);
  }

  /** Media to or from an endpoint whose SDP offered SRTP. */
  private isSecure(p: Omit<UdpPacket, 'frame' | 'ts' | 'payload'>): boolean {
    return (
      this.secureEndpoints.size > 0 &&
      (this.secureEndpoints.has(`${p.dst}|${p.dstPort}`) ||
        this.secureEndpoints.has(`${p.src}|${p.srcPort}`))
    );
  }

  /** Endpoints whose m= line has a secure profile (SRTP). */
  private readSdp(sdp: string): void {
    let session: string | undefined;
    let media: { port: number; secure: boolean; address?: string } | undefined;
    const flush = (): void => {
      const address = media?.address ?? session;
      if (media?.secure && address && this.secureEndpoints.size < MAX_SECURE_ENDPOINTS) {
        this.secureEndpoints.add(`${address}|${media.port}`);
      }
    };
    for (const line of sdp.split(/\r?\n/)) {
      if (line.startsWith('m=')) {
        flush();
        const [, port, profile] = line.slice(2).split(/\s+/);
        media = { port: Number(port), secure: SECURE_PROFILE.test(profile ?? '') };
      } else if (line.startsWith('c=')) {
        const raw = line.slice(2).trim().split(/\s+/)[2]?.split('/')[0];
        const address = raw ? (canonicalIp(raw) ?? raw) : undefined;
        if (media) media.address = address;
        else session = address;
      }
    }
    flush();
  }

  /** Every finding, most serious first. */
  findings(): SecurityFinding[] {
    const out = [...this.sipFindings.findings(), ...this.rtpFindings.findings()];
    const cleartext = this.cleartextFinding();
    if (cleartext) out.push(cleartext);
    return out.sort(compareFindings);
  }

  private cleartextFinding(): SecurityFinding | undefined {
    const sip = this.clearSip.count;
    const rtp = this.clearRtp.count;
    if (sip === 0 && rtp === 0) return undefined;
    const what: string[] = [];
    const fix: string[] = [];
    if (sip > 0) {
      what.push(
        `signalling in cleartext (${plural(sip, 'SIP message')} over ${[...this.clearTransports].join('/')})`,
      );
      fix.push('SIP over TLS (sips: URIs, transport=tls, port 5061) or WSS');
    }
    if (rtp > 0) {
      what.push(`media in cleartext (${plural(rtp, 'RTP packet')})`);
      fix.push('SRTP (RTP/SAVP with DTLS-SRTP, or SDES keys over TLS only)');
    }
    const frames = [...this.clearSip.frames.slice(0, 10), ...this.clearRtp.frames.slice(0, 10)];
    return {
      kind: 'cleartext',
      severity: 'info',
      text: `The capture shows ${what.join(' and ')}: anyone on the path can read ${sip > 0 ? `who calls whom and the digest exchanges${rtp > 0 ? ', and hear the audio' : ''}` : 'and replay the audio'}. Switch on ${fix.join(' and ')}.`,
      frames: frames.sort((a, b) => a - b),
      frameCount: sip + rtp,
    };
  }
}
