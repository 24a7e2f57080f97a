// Security findings in SIP signalling, from one message at a time. Only counters and small tables
// per source address, user and pending transaction are kept, each bounded.
//
//   scanner              by User-Agent: a tool that names itself (sipvicious' 'friendly-scanner',
//                        ...); by behaviour: one source tries many users and every try is refused
//                        (401/403/404/407/484) without any of them succeeding.
//   brute-force          a burst of failed authentications from one source: 401/407 to requests
//                        that carried credentials, and 403s.
//   registration-hijack  a user's binding moved to a new address by a REGISTER that carried no
//                        credentials and still got 2xx.
//   spoofing             a request whose top Via sent-by (or, straight from a user agent, From
//                        host) is an IP literal that is not the packet's source, in the same scope
//                        (private vs public differences are NAT, not spoofing).
//   srtp-keys-exposed    SDES keys (a=crypto, RFC 4568) in SDP carried by cleartext signalling.
//   malformed            requests that break the SIP grammar (a strict server answers them 400):
//                        fuzzing, parser probes, scanners, or a broken client. Read tolerantly,
//                        they also go through every check above.
import type { SipMessage } from '../sip/index.ts';
import { SCANNER_USER_AGENTS, SipRequest, SipResponse } from '../sip/index.ts';
import type { MessageOrigin } from './call-tracker.ts';
import { addressScope, canonicalIp } from './finding-address.ts';
import { BoundedMap, Evidence, plural } from './finding-evidence.ts';
import type { SecurityFinding } from './finding-evidence.ts';

/**
 * Distinct users one source must try and be refused for, to be a scanner by behaviour. A phone
 * tries one or two users; a PBX or SBC registering many users gets them accepted. Ten refused
 * users, and at most one accepted for every SCANNER_REFUSED_PER_ACCEPTED refused (a scanner may
 * guess a few right), is enumeration.
 */
export const SCANNER_MIN_REFUSED_USERS = 10;
export const SCANNER_REFUSED_PER_ACCEPTED = 4;

/**
 * Failed authentications from one source within BRUTE_FORCE_WINDOW_SECONDS that make a burst.
 * A phone with a wrong password fails once per registration attempt, retried tens of seconds
 * apart; ten failures in a minute is a password being guessed.
 */
export const BRUTE_FORCE_MIN_FAILURES = 10;
export const BRUTE_FORCE_WINDOW_SECONDS = 60;

/** Responses that refuse a user (unknown, not allowed, credentials wrong or wanted). */
const REFUSALS = new Set([401, 403, 404, 407, 484]);

/** Bounds of the tables: sources, users per source, open transactions, bindings, spoof pairs. */
const MAX_SOURCES = 10_000;
const MAX_USERS_PER_SOURCE = 1_000;
const MAX_PENDING = 20_000;
const MAX_BINDINGS = 20_000;
const MAX_SPOOF_PAIRS = 1_000;
/** Distinct reasons quoted per source of malformed requests. */
const MAX_MALFORMED_REASONS = 3;
/** Names kept to quote in a sentence. */
const MAX_NAMES_QUOTED = 5;

interface SourceState {
  ip: string;
  scannerAgent?: string;
  agentEvidence: Evidence;
  /** User -> true once a request for it succeeded, false while only refused. */
  users: Map<string, boolean>;
  tryEvidence: Evidence;
  /** Times of the last BRUTE_FORCE_MIN_FAILURES failed authentications (ring). */
  failureTimes: number[];
  failures: number;
  failureEvidence: Evidence;
  failedUsers: Set<string>;
  burst: boolean;
}

interface PendingRequest {
  sourceIp: string;
  user?: string;
  credentials: boolean;
  /** Out of dialog (no To tag) or a REGISTER: a try at a user. */
  initial: boolean;
  frame?: number;
  method: string;
  /** REGISTER: address-of-record, new binding ('host:port' of the Contact) and whether it adds. */
  aor?: string;
  binding?: string;
  adds?: boolean;
}

interface Binding {
  address: string;
  sourceIp: string;
  frame?: number;
}

interface Hijack {
  aor: string;
  from: string;
  to: string;
  evidence: Evidence;
}

interface Spoof {
  sourceIp: string;
  claimed: string;
  fields: Set<string>;
  evidence: Evidence;
  lastFrame?: number;
}

export class SipFindings {
  private readonly sources = new BoundedMap<string, SourceState>(MAX_SOURCES);
  private readonly pending = new BoundedMap<string, PendingRequest>(MAX_PENDING);
  private readonly bindings = new BoundedMap<string, Binding>(MAX_BINDINGS);
  private readonly hijacks: Hijack[] = [];
  private readonly spoofs = new BoundedMap<string, Spoof>(MAX_SPOOF_PAIRS);
  private readonly exposedKeys = new Evidence();
  private readonly malformedBySource = new BoundedMap<
    string,
    { evidence: Evidence; reasons: string[]; responses: number }
  >(MAX_SOURCES);

  /** A message the strict parser refused (requests make the finding; responses are counted). */
  malformed(origin: MessageOrigin, reason: string, request: boolean): void {
    const ip = canonicalIp(origin.src) ?? origin.src;
    let m = this.malformedBySource.touch(ip);
    if (!m) {
      m = { evidence: new Evidence(), reasons: [], responses: 0 };
      this.malformedBySource.set(ip, m);
    }
    if (!request) {
      m.responses++;
      return;
    }
    m.evidence.add(origin.frame);
    if (m.reasons.length < MAX_MALFORMED_REASONS && !m.reasons.includes(reason)) {
      m.reasons.push(reason);
    }
  }

  message(msg: SipMessage, origin: MessageOrigin): void {
    const sourceIp = canonicalIp(origin.src) ?? origin.src;
    if (msg instanceof SipRequest) this.request(msg, origin, sourceIp);
    else this.response(msg, origin);
    if (/^a=crypto:/im.test(msg.body.toString('latin1'))) this.exposedKeys.add(origin.frame);
  }

  private source(ip: string): SourceState {
    let s = this.sources.touch(ip);
    if (!s) {
      s = {
        ip,
        agentEvidence: new Evidence(),
        users: new Map(),
        tryEvidence: new Evidence(),
        failureTimes: [],
        failures: 0,
        failureEvidence: new Evidence(),
        failedUsers: new Set(),
        burst: false,
      };
      this.sources.set(ip, s);
    }
    return s;
  }

  private request(msg: SipRequest, origin: MessageOrigin, sourceIp: string): void {
    const agent = msg.userAgent;
    const lowerAgent = agent?.toLowerCase();
    if (lowerAgent && SCANNER_USER_AGENTS.some((a) => lowerAgent.includes(a))) {
      const s = this.source(sourceIp);
      s.scannerAgent ??= agent;
      s.agentEvidence.add(origin.frame);
    }
    this.checkSpoofing(msg, origin, sourceIp);

    const method = msg.method;
    if (method === 'ACK' || method === 'CANCEL') return;
    const user = msg.to.uri.user;
    const credentials = msg.authorization.length > 0 || msg.proxyAuthorization.length > 0;
    const initial = method === 'REGISTER' || msg.to.tag === undefined;
    const pending: PendingRequest = {
      sourceIp,
      user,
      credentials,
      initial,
      frame: origin.frame,
      method,
    };
    if (method === 'REGISTER') {
      const contacts = msg.contact;
      const contact = contacts.find((c) => !c.star);
      pending.aor = `${msg.to.uri.user ?? ''}@${msg.to.uri.host}`;
      if (contact) {
        pending.binding = `${canonicalIp(contact.uri.host) ?? contact.uri.host.toLowerCase()}:${contact.uri.port ?? 5060}`;
        pending.adds = (contact.expires ?? msg.expires ?? 1) > 0;
      }
    }
    this.pending.set(transactionKey(msg), pending);
  }

  private response(msg: SipMessage, origin: MessageOrigin): void {
    const status = msg instanceof SipResponse ? msg.status : 0;
    if (status < 200) return;
    const key = transactionKey(msg);
    const req = this.pending.get(key);
    if (req) this.pending.delete(key);
    const requesterIp = req?.sourceIp ?? canonicalIp(origin.dst) ?? origin.dst;

    if (req?.user !== undefined && req.initial) {
      const s = this.source(requesterIp);
      if (status < 300) s.users.set(req.user, true);
      else if (REFUSALS.has(status) && !s.users.has(req.user)) {
        if (s.users.size < MAX_USERS_PER_SOURCE) s.users.set(req.user, false);
        s.tryEvidence.add(req.frame);
      }
    }

    const failedAuth = status === 403 || ((status === 401 || status === 407) && req?.credentials);
    if (failedAuth) this.authFailure(requesterIp, req?.user, origin, req?.frame);

    if (status >= 200 && status < 300 && req?.method === 'REGISTER' && req.aor && req.binding) {
      this.registered(req, origin);
    }
  }

  private authFailure(
    ip: string,
    user: string | undefined,
    origin: MessageOrigin,
    requestFrame: number | undefined,
  ): void {
    const s = this.source(ip);
    s.failures++;
    s.failureTimes.push(origin.ts);
    if (s.failureTimes.length > BRUTE_FORCE_MIN_FAILURES) s.failureTimes.shift();
    s.failureEvidence.add(requestFrame);
    s.failureEvidence.add(origin.frame);
    if (user !== undefined && s.failedUsers.size < MAX_NAMES_QUOTED) s.failedUsers.add(user);
    if (
      s.failureTimes.length >= BRUTE_FORCE_MIN_FAILURES &&
      origin.ts - s.failureTimes[0] <= BRUTE_FORCE_WINDOW_SECONDS
    ) {
      s.burst = true;
    }
  }

  private registered(req: PendingRequest, origin: MessageOrigin): void {
    const aor = req.aor!;
    const address = req.binding!;
    if (!req.adds) {
      this.bindings.delete(aor);
      return;
    }
    const before = this.bindings.touch(aor);
    if (
      before &&
      !req.credentials &&
      before.address !== address &&
      before.sourceIp !== req.sourceIp
    ) {
      let h = this.hijacks.find((x) => x.aor === aor && x.to === address);
      if (!h && this.hijacks.length < MAX_SPOOF_PAIRS) {
        h = { aor, from: before.address, to: address, evidence: new Evidence() };
        h.evidence.add(before.frame);
        this.hijacks.push(h);
      }
      h?.evidence.add(req.frame);
      h?.evidence.add(origin.frame);
    }
    this.bindings.set(aor, { address, sourceIp: req.sourceIp, frame: req.frame });
  }

  private checkSpoofing(msg: SipRequest, origin: MessageOrigin, sourceIp: string): void {
    const vias = msg.via;
    if (vias.length === 0) return;
    const scope = addressScope(sourceIp);
    const claims: Array<[string, string]> = [];
    const sentBy = canonicalIp(vias[0].host);
    if (sentBy && sentBy !== sourceIp && addressScope(sentBy) === scope) {
      claims.push([sentBy, 'Via sent-by']);
    }
    // From host: only for a request straight from a user agent (one Via); a proxy forwards the
    // caller's From unchanged. Its own domain may be the registrar's address: dst, To and
    // Request-URI hosts are not claims.
    const fromHost = canonicalIp(msg.from.uri.host);
    if (
      vias.length === 1 &&
      fromHost &&
      fromHost !== sourceIp &&
      addressScope(fromHost) === scope &&
      fromHost !== (canonicalIp(origin.dst) ?? origin.dst) &&
      fromHost !== canonicalIp(msg.to.uri.host) &&
      fromHost !== canonicalIp(safeRequestUriHost(msg))
    ) {
      claims.push([fromHost, 'From host']);
    }
    for (const [claimed, field] of claims) {
      const key = `${sourceIp}|${claimed}`;
      let spoof = this.spoofs.get(key);
      if (!spoof) {
        spoof = { sourceIp, claimed, fields: new Set(), evidence: new Evidence() };
        this.spoofs.set(key, spoof);
      }
      spoof.fields.add(field);
      // Via and From claiming the same host in one message are one packet of evidence.
      if (spoof.lastFrame === undefined || spoof.lastFrame !== origin.frame) {
        spoof.evidence.add(origin.frame);
      }
      spoof.lastFrame = origin.frame;
    }
  }

  /** Findings from what was seen; `cleartext` tells whether signalling was readable at all. */
  findings(): SecurityFinding[] {
    const out: SecurityFinding[] = [];
    for (const s of this.sources.values()) {
      if (s.scannerAgent !== undefined) {
        out.push({
          kind: 'scanner',
          severity: 'medium',
          text: `${s.ip} sent ${plural(s.agentEvidence.count, 'request')} with the User-Agent of a scanning tool ("${s.scannerAgent}").`,
          frames: s.agentEvidence.sorted(),
          frameCount: s.agentEvidence.count,
        });
      }
      let refused = 0;
      let accepted = 0;
      const names: string[] = [];
      for (const [user, ok] of s.users) {
        if (ok) accepted++;
        else {
          refused++;
          if (names.length < MAX_NAMES_QUOTED) names.push(user);
        }
      }
      if (
        refused >= SCANNER_MIN_REFUSED_USERS &&
        refused >= SCANNER_REFUSED_PER_ACCEPTED * accepted
      ) {
        out.push({
          kind: 'scanner',
          severity: 'medium',
          text:
            `${s.ip} tried ${refused + accepted}${s.users.size >= MAX_USERS_PER_SOURCE ? '+' : ''} different users (${names.join(', ')}, ...) and was refused ` +
            `${accepted > 0 ? `for ${refused} of them` : 'every time'}: user enumeration.`,
          frames: s.tryEvidence.sorted(),
          frameCount: s.tryEvidence.count,
        });
      }
      if (s.burst) {
        const users = [...s.failedUsers];
        out.push({
          kind: 'brute-force',
          severity: 'high',
          text: `${s.ip} failed authentication ${s.failures} times, at least ${BRUTE_FORCE_MIN_FAILURES} within ${BRUTE_FORCE_WINDOW_SECONDS} s${users.length ? ` (user ${users.join(', ')})` : ''}: password guessing.`,
          frames: s.failureEvidence.sorted(),
          frameCount: s.failureEvidence.count,
        });
      }
    }
    for (const h of this.hijacks) {
      out.push({
        kind: 'registration-hijack',
        severity: 'high',
        text: `The binding of ${h.aor} moved from ${h.from} to ${h.to} through a REGISTER from a new source that carried no credentials and was accepted: calls to ${h.aor} now go to ${h.to}.`,
        frames: h.evidence.sorted(),
        frameCount: h.evidence.count,
      });
    }
    for (const sp of this.spoofs.values()) {
      out.push({
        kind: 'spoofing',
        severity: 'medium',
        text: `${plural(sp.evidence.count, 'request')} from ${sp.sourceIp} claim to come from ${sp.claimed} (${[...sp.fields].join(', ')}): a forged origin, or a host sending from another address than it announces.`,
        frames: sp.evidence.sorted(),
        frameCount: sp.evidence.count,
      });
    }
    for (const [ip, m] of this.malformedBySource.entries()) {
      if (m.evidence.count === 0) continue;
      out.push({
        kind: 'malformed',
        severity: 'low',
        text:
          `${ip} sent ${plural(m.evidence.count, 'malformed SIP request')} (${m.reasons.map((r) => `"${r}"`).join('; ')}${m.reasons.length >= MAX_MALFORMED_REASONS ? '; ...' : ''}): ` +
          'a strict server answers 400; fuzzing, a parser probe, a scanner or a broken client. The analysis read them tolerantly and checked them like any request.',
        frames: m.evidence.sorted(),
        frameCount: m.evidence.count,
      });
    }
    if (this.exposedKeys.count > 0) {
      out.push({
        kind: 'srtp-keys-exposed',
        severity: 'medium',
        text: `SRTP keys (SDP a=crypto) were sent in cleartext SIP in ${plural(this.exposedKeys.count, 'message')}: whoever reads the signalling can decrypt the media. Carry SDES only over TLS, or use DTLS-SRTP.`,
        frames: this.exposedKeys.sorted(),
        frameCount: this.exposedKeys.count,
      });
    }
    return out;
  }
}

/** A response's transaction as its request's: Call-ID, CSeq number and method (RFC 3261 §17.1.3). */
function transactionKey(msg: SipMessage): string {
  const cseq = msg.cseq;
  return `${msg.callId}\n${cseq.seq}\n${cseq.method}\n${msg.topVia?.branch ?? ''}`;
}

function safeRequestUriHost(msg: SipRequest): string {
  try {
    return msg.requestUri.host;
  } catch {
    return '';
  }
}
