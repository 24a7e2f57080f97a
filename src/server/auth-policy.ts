// Who may do what (RFC 3261 §22): the call server's authentication policy. Our users prove who
// they are with digest credentials checked against the stored HA1s (401 for REGISTER, 407 for the
// rest); a trunk is known by its source address or by its own `inboundAuth` credentials. Every
// decision is returned, not sent: the call server answers it (and writes the refused attempt's
// CDR first).
//
// Unknown users and wrong passwords are answered alike, so extensions cannot be told apart: no
// credentials get a 401/407 challenge whoever the user; a wrong answer (wrong password, unknown
// user, malformed credentials) gets 403, the same reason phrase and the same work done (an
// unknown user is checked against a decoy HA1, so the hashing takes as long). A nonce that
// expired, that no node issued (a restart, a rotated-out key) or that is replayed gets a fresh
// challenge: those are judged before the user matters (or only once the password was right).
import { createHmac, randomBytes } from 'node:crypto';
import { createResponse, type SipRequest, type SipResponse } from '../sip/index.ts';
import type { CdrCause, UserStore } from '../store/stores.ts';
import { formatEndpoint, type Endpoint } from '../transport/index.ts';
import type { RequestGuard } from './call-server.ts';
import type { ServerConfig } from './config.ts';
import type { DigestAuthenticator } from './digest-authenticator.ts';
import type { ServerMetrics } from './metrics.ts';
import { printable, type Logger } from './server-log.ts';
import { userRecord } from './users.ts';

type Trunk = ServerConfig['trunks'][number];

/** What the policy decided: who the sender is, or the answer that refuses or challenges it. */
export type AuthDecision<T> =
  { ok: true; who: T } | { ok: false; response: SipResponse; cause?: CdrCause };

export interface AuthPolicyOptions {
  auth: DigestAuthenticator;
  users: UserStore;
  /** The domain our users belong to (lower case). */
  domain: string;
  trunks: readonly Trunk[];
  /** Calls from nobody we know (neither a user nor a trunk) are allowed (inbound.allowAnonymous). */
  allowAnonymous: boolean;
  guard?: RequestGuard;
  metrics: ServerMetrics;
  log: Logger;
}

export class AuthPolicy {
  /** Trunks that identify themselves by credentials (`inboundAuth`), by user name. */
  private readonly trunksByUser = new Map<
    string,
    { trunk: Trunk; username: string; secrets: { ha1Md5: string; ha1Sha256: string } }
  >();
  /** Key of the decoy HA1s of unknown users. */
  private readonly decoyKey = randomBytes(32);

  constructor(private readonly opts: AuthPolicyOptions) {
    const realm = opts.auth.realm;
    for (const t of opts.trunks) {
      if (!t.inboundAuth) continue;
      const { username, password } = t.inboundAuth;
      const record = userRecord(username, realm, password);
      this.trunksByUser.set(username, {
        trunk: t,
        username,
        secrets: { ha1Md5: record.ha1Md5, ha1Sha256: record.ha1Sha256 ?? '' },
      });
    }
  }

  /**
   * Checks one of our users' credentials (`header`: WWW-Authenticate for REGISTER, else
   * Proxy-Authenticate). Returns the authenticated user, or the challenge or refusal to send.
   */
  async user(
    req: SipRequest,
    source: Endpoint,
    header: 'WWW-Authenticate' | 'Proxy-Authenticate',
  ): Promise<AuthDecision<string>> {
    const credentials = header === 'WWW-Authenticate' ? req.authorization : req.proxyAuthorization;
    const { auth, users, domain, guard } = this.opts;
    const result = await auth.verify(
      credentials,
      req.method,
      async (u) => (await users.getUser(u, domain)) ?? this.decoySecrets(u),
    );
    if (result.ok) {
      guard?.authSucceeded(source, result.user);
      return { ok: true, who: result.user };
    }
    // A nonce we did not issue is most often one from before a restart or a key rotation: like
    // an expired one it gets a fresh challenge with stale=true and is not a failure, so phones
    // that resend an old nonce once are not banned for it.
    const stale = result.failure === 'stale' || result.failure === 'invalid-nonce';
    if (result.failure !== 'missing' && !stale)
      this.failed(req, source, result.user, result.failure);
    if (
      result.failure === 'bad-response' ||
      result.failure === 'unknown-user' ||
      result.failure === 'malformed'
    ) {
      return { ok: false, response: createResponse(req, 403, 'Forbidden'), cause: 'auth-failed' };
    }
    return {
      ok: false,
      response: this.challenge(req, header === 'WWW-Authenticate' ? 401 : 407, stale),
    };
  }

  /**
   * A request from an unknown source that is not from one of our users: a trunk may identify
   * itself with its `inboundAuth` credentials (Proxy-Authorization, our realm). Returns the
   * trunk, undefined when the request names none (an anonymous call, allowed unless
   * `inbound.allowAnonymous` is false, in which case it is challenged), or the answer: a 407
   * challenge, 403 for a wrong answer.
   */
  async trunk(req: SipRequest, source: Endpoint): Promise<AuthDecision<Trunk | undefined>> {
    const named = req.proxyAuthorization.find((c) =>
      this.trunksByUser.has(c.params.username ?? ''),
    );
    if (!named) {
      if (this.opts.allowAnonymous) return { ok: true, who: undefined };
      return { ok: false, response: this.challenge(req, 407, false) };
    }
    const entry = this.trunksByUser.get(named.params.username!)!;
    const result = await this.opts.auth.verify([named], req.method, (u) =>
      u === entry.username ? entry.secrets : undefined,
    );
    if (result.ok) return { ok: true, who: entry.trunk };
    if (
      result.failure === 'stale' ||
      result.failure === 'invalid-nonce' ||
      result.failure === 'missing'
    )
      return { ok: false, response: this.challenge(req, 407, result.failure !== 'missing') };
    this.failed(req, source, entry.username, result.failure, entry.trunk.name);
    return { ok: false, response: createResponse(req, 403, 'Forbidden'), cause: 'auth-failed' };
  }

  /** A 401/407 with one challenge per algorithm offered (a fresh nonce). */
  challenge(req: SipRequest, status: 401 | 407, stale: boolean): SipResponse {
    const res = createResponse(
      req,
      status,
      status === 401 ? 'Unauthorized' : 'Proxy Authentication Required',
    );
    const header = status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate';
    for (const ch of this.opts.auth.challenges(stale)) res.append(header, ch);
    return res;
  }

  /** A failed digest check: counted, logged (never the credentials), told to the guard. */
  private failed(
    req: SipRequest,
    source: Endpoint,
    user: string | undefined,
    reason: string,
    trunk?: string,
  ): void {
    this.opts.metrics.authFailures++;
    const from = formatEndpoint(source);
    this.opts.log.warn(
      {
        event: 'auth.failed',
        method: req.method,
        user: user ?? null,
        source: from,
        reason,
        callId: req.callId,
        ...(trunk ? { trunk } : {}),
      },
      `auth failed: ${req.method} from ${from}${user !== undefined ? ` as ${printable(user)}` : ''} (${reason})`,
    );
    this.opts.guard?.authFailed(source, user);
  }

  /** HA1s no password matches, stable per user name: an unknown user costs the same hashing. */
  private decoySecrets(user: string): { ha1Md5: string; ha1Sha256: string } {
    const mac = createHmac('sha256', this.decoyKey).update(user).digest('hex');
    return { ha1Md5: mac.slice(0, 32), ha1Sha256: mac };
  }
}
