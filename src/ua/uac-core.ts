// The UAC core (RFC 3261 §8.1): sends a request to where its Route set or Request-URI says
// (§8.1.2, located through RFC 3263), one client transaction per attempt; on 401/407 answers the
// challenges with digest credentials and sends again (§8.1.3.5, §22.2), on a transport failure or
// timeout with no answer tries the next located server (RFC 3263 §4.3), and hands back the final
// response. A timeout becomes a local 408 and a transport failure a local 503 (§8.1.3.1).
import { SipResponse, type SipRequest } from '../sip/index.ts';
import type { TransactionLayer, ClientTransaction } from '../transaction/index.ts';
import type { Endpoint } from '../transport/index.ts';
import { pickChallenges, type Challenge, type DigestClient } from './digest-client.ts';
import type { ServerLocator, TransportName } from './server-locator.ts';

export interface UacHandlers {
  /** Every 1xx of the current attempt. */
  onProvisional?(response: SipResponse, tx: ClientTransaction): void;
  /** Each client transaction as it is created (auth retries and fail-over make new ones). */
  onTransaction?(tx: ClientTransaction): void;
  /** Further 2xx to an INVITE after the first final (retransmissions, forks). */
  onExtra2xx?(response: SipResponse): void;
}

export interface UacResult {
  response: SipResponse;
  /** The request as last sent (its CSeq and credentials, for the ACK and the dialog). */
  request: SipRequest;
  destination: Endpoint | undefined;
  /** Whether the response was made up locally (timeout, transport failure, nothing resolved). */
  local: boolean;
}

export interface UacCoreOptions {
  transactions: TransactionLayer;
  locator: ServerLocator;
  digest?: DigestClient;
  /** Transport for URIs that name none (numeric hosts, explicit ports): the UA's own. */
  defaultTransport?: TransportName;
}

/** Most challenge rounds for one request: a proxy, a UAS, and stale nonces, with room to spare. */
const MAX_AUTH_ROUNDS = 6;

type Attempt =
  | { kind: 'final'; response: SipResponse; tx: ClientTransaction }
  | { kind: 'timeout'; tx: ClientTransaction }
  | { kind: 'error'; error: Error; tx?: ClientTransaction };

/** A response made here for a request that got none (§8.1.3.1: timeout = 408). */
export function localResponse(request: SipRequest, status: number, reason: string): SipResponse {
  const headers: [string, string][] = [];
  for (const name of ['Via', 'From', 'To', 'Call-ID', 'CSeq']) {
    for (const v of request.getAll(name)) headers.push([name, v]);
  }
  return new SipResponse(status, reason, headers);
}

export class UacCore {
  private readonly transactions: TransactionLayer;
  private readonly locator: ServerLocator;
  private readonly digest?: DigestClient;
  private readonly defaultTransport: TransportName;

  constructor(options: UacCoreOptions) {
    this.transactions = options.transactions;
    this.locator = options.locator;
    this.digest = options.digest;
    this.defaultTransport = options.defaultTransport ?? 'udp';
  }

  /** §8.1.2: where a request goes: its first Route if any (loose routing), else its Request-URI. */
  async destinations(request: SipRequest): Promise<Endpoint[]> {
    const route = request.route[0];
    const uri = route ? route.uri : request.requestUri;
    const params = { ...uri.params };
    if (params.transport === undefined && this.defaultTransport !== 'udp') {
      params.transport = this.defaultTransport; // the protocol's own name: read back as itself
    }
    const targets = await this.locator.locate({
      scheme: uri.scheme,
      host: uri.host,
      port: uri.port,
      params,
    });
    return targets.map((t) => ({ protocol: t.transport, address: t.address, port: t.port }));
  }

  /** Sends a request until it has a final response; never rejects. */
  async send(request: SipRequest, handlers: UacHandlers = {}): Promise<UacResult> {
    let current = request;
    const answered = new Map<
      string,
      { ch: Challenge; header: 'Authorization' | 'Proxy-Authorization' }
    >();
    for (let round = 0; ; round++) {
      const result = await this.sendToTargets(current, handlers);
      const status = result.response.status;
      if ((status !== 401 && status !== 407) || !this.digest || round >= MAX_AUTH_ROUNDS)
        return result;
      const header = status === 407 ? 'Proxy-Authorization' : 'Authorization';
      const challenges =
        status === 407 ? result.response.proxyAuthenticate : result.response.wwwAuthenticate;
      const picked = pickChallenges(challenges);
      if (picked.length === 0) return result;
      for (const ch of picked) {
        const key = `${header}|${ch.params.realm ?? ''}`;
        const stale = (ch.params.stale ?? '').toLowerCase() === 'true';
        // Already answered this realm and not told the nonce was merely stale: refused.
        if (answered.has(key) && !stale) return result;
        answered.set(key, { ch, header });
      }
      current = request.clone();
      current.remove('Via');
      current.remove('Authorization');
      current.remove('Proxy-Authorization');
      current.set('CSeq', `${result.request.cseq.seq + 1} ${request.cseq.method}`);
      for (const { ch, header: h } of answered.values()) {
        const answer = this.digest.sign(ch, h, {
          method: current.method,
          uri: current.uri,
          body: current.body,
        });
        current.append(answer.header, answer.value);
      }
    }
  }

  private async sendToTargets(request: SipRequest, handlers: UacHandlers): Promise<UacResult> {
    let targets: Endpoint[];
    try {
      targets = await this.destinations(request);
    } catch {
      targets = [];
    }
    if (targets.length === 0) {
      return {
        response: localResponse(request, 503, 'No Server Found'),
        request,
        destination: undefined,
        local: true,
      };
    }
    let last: Attempt | undefined;
    let lastRequest = request;
    for (const target of targets) {
      const attempt = target === targets[0] ? request : withoutVia(request);
      last = await this.sendOnce(attempt, target, handlers);
      lastRequest = last.tx?.request ?? attempt;
      if (last.kind === 'final') {
        return {
          response: last.response,
          request: lastRequest,
          destination: last.tx.destination,
          local: false,
        };
      }
      // Fail over only when nothing at all came back from this server.
      if (last.tx?.lastResponse) break;
    }
    const response =
      last?.kind === 'timeout'
        ? localResponse(lastRequest, 408, 'Request Timeout')
        : localResponse(lastRequest, 503, 'Service Unavailable');
    return { response, request: lastRequest, destination: undefined, local: true };
  }

  private sendOnce(request: SipRequest, target: Endpoint, handlers: UacHandlers): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      let settled = false;
      const settle = (a: Attempt) => {
        if (!settled) {
          settled = true;
          resolve(a);
        }
      };
      try {
        const tx = this.transactions.sendRequest(request, target, {
          onProvisional: (res, t) => {
            if (!settled) handlers.onProvisional?.(res, t);
          },
          onFinal: (res, t) => {
            if (!settled) settle({ kind: 'final', response: res, tx: t });
            else if (res.status >= 200 && res.status < 300) handlers.onExtra2xx?.(res);
          },
          onTimeout: (t) => settle({ kind: 'timeout', tx: t }),
          onTransportError: (error, t) => settle({ kind: 'error', error, tx: t }),
          // Terminated from outside (the call was abandoned) before any final response.
          onTerminated: (t) =>
            settle({ kind: 'error', error: new Error('transaction terminated'), tx: t }),
        });
        handlers.onTransaction?.(tx);
      } catch (error) {
        settle({ kind: 'error', error: error instanceof Error ? error : new Error(String(error)) });
      }
    });
  }
}

function withoutVia(request: SipRequest): SipRequest {
  const copy = request.clone();
  copy.remove('Via');
  return copy;
}
