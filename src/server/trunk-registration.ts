// Outbound registration of a trunk with its provider: the server registers an address of record
// at the peer (answering 401/407 with the trunk's credentials), so the provider sends that
// number's calls here, and refreshes it before it expires.
import { newCallId, newTag, SipRequest, type SipResponse } from '../sip/index.ts';
import type { TransactionLayer } from '../transaction/index.ts';
import { hostForHeader, type Endpoint } from '../transport/index.ts';
import { DigestClient } from '../ua/digest-client.ts';
import { silentLogger, type Logger } from './server-log.ts';

export interface TrunkRegistrationOptions {
  name: string;
  /** 'sip:acct@provider.example' */
  aor: string;
  expires: number;
  peer: Endpoint;
  /** Our address as the provider should reach it (a listener). */
  contact: Endpoint;
  auth?: { username: string; password: string };
  /** Told of every change of state (`trunk.registration`); refreshes that change nothing at debug. */
  logger?: Logger;
}

export type TrunkRegistrationState = 'registering' | 'registered' | 'failed' | 'stopped';

/** Retry a failed registration after this long. */
const RETRY_MS = 30_000;

export class TrunkRegistration {
  state: TrunkRegistrationState = 'registering';
  /** Status of the last final response (0 = none yet, 408 = timeout). */
  lastStatus = 0;
  /** Expiry granted by the provider, seconds. */
  granted = 0;
  private readonly callId = newCallId();
  private readonly tag = newTag();
  private cseq = 0;
  private timer?: NodeJS.Timeout;
  private readonly digest?: DigestClient;
  private authTries = 0;
  private waiters: Array<(state: TrunkRegistrationState) => void> = [];
  private readonly log: Logger;
  /** The outcome last logged at info: a refresh that keeps it is logged at debug only. */
  private logged: TrunkRegistrationState | undefined;

  constructor(
    private readonly layer: TransactionLayer,
    private readonly opts: TrunkRegistrationOptions,
  ) {
    if (opts.auth) this.digest = new DigestClient(opts.auth.username, opts.auth.password);
    this.log = opts.logger ?? silentLogger();
  }

  private stateLog(state: 'registered' | 'failed', status: number, message: string): void {
    const level = this.logged === state ? 'debug' : state === 'failed' ? 'warn' : 'info';
    this.logged = state;
    this.log[level](
      {
        event: 'trunk.registration',
        trunk: this.opts.name,
        aor: this.opts.aor,
        state,
        status,
        ...(state === 'registered' ? { expires: this.granted } : { retrySeconds: RETRY_MS / 1000 }),
      },
      `trunk ${this.opts.name}: ${message}`,
    );
  }

  start(): void {
    this.send([]);
  }

  /** Resolves at the next final outcome (registered or failed). */
  settled(): Promise<TrunkRegistrationState> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.state = 'stopped';
  }

  private send(credentials: Array<{ header: string; value: string }>): void {
    const { aor, peer, contact, expires } = this.opts;
    const registrar = aor.replace(/^(sips?:)[^@]*@/, '$1');
    const contactUri = `sip:${aor.replace(/^sips?:/, '').split('@')[0]}@${hostForHeader(contact.address)}:${contact.port}${contact.protocol === 'udp' ? '' : `;transport=${contact.protocol}`}`;
    const req = new SipRequest('REGISTER', registrar, [
      ['Max-Forwards', '70'],
      ['From', `<${aor}>;tag=${this.tag}`],
      ['To', `<${aor}>`],
      ['Call-ID', this.callId],
      ['CSeq', `${++this.cseq} REGISTER`],
      ['Contact', `<${contactUri}>`],
      ['Expires', String(expires)],
      ['User-Agent', 'trapezoid'],
      ...credentials.map((c): [string, string] => [c.header, c.value]),
    ]);
    this.layer.sendRequest(req, peer, {
      onFinal: (res) => this.onFinal(req, res),
      onTimeout: () => this.fail(408),
      onTransportError: () => this.fail(503),
    });
  }

  private onFinal(req: SipRequest, res: SipResponse): void {
    this.lastStatus = res.status;
    if ((res.status === 401 || res.status === 407) && this.digest && this.authTries < 2) {
      this.authTries++;
      const challenges = res.status === 401 ? res.wwwAuthenticate : res.proxyAuthenticate;
      const answers = this.digest.answer(res.status, challenges, {
        method: 'REGISTER',
        uri: req.uri,
      });
      if (answers.length > 0) {
        this.send(answers);
        return;
      }
    }
    if (res.status >= 200 && res.status < 300) {
      this.authTries = 0;
      const ours = res.contact.find((c) => c.expires !== undefined);
      this.granted = ours?.expires ?? res.expires ?? this.opts.expires;
      this.state = 'registered';
      this.stateLog(
        'registered',
        res.status,
        `registered as ${this.opts.aor} for ${this.granted} s`,
      );
      this.schedule(Math.max(5, this.granted * 0.9) * 1000, () => {
        this.state = 'registering';
        // Refreshes carry credentials at once for the realms already seen.
        this.send(this.digest?.cachedAnswers({ method: 'REGISTER', uri: req.uri }) ?? []);
      });
      this.settle();
      return;
    }
    this.fail(res.status);
  }

  private fail(status: number): void {
    this.lastStatus = status;
    this.state = 'failed';
    this.authTries = 0;
    this.stateLog(
      'failed',
      status,
      `registration failed (${status}), retrying in ${RETRY_MS / 1000} s`,
    );
    this.schedule(RETRY_MS, () => {
      this.state = 'registering';
      this.send([]);
    });
    this.settle();
  }

  private schedule(ms: number, fn: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(fn, ms);
    this.timer.unref();
  }

  private settle(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve(this.state);
  }
}
