// The dial plan's `trunk` action: a call sent to another call server over a SIP trunk. The
// trunk's peers are tried in order: a 503, a 408 or no answer at all moves the call to the next
// peer (failover); any other final answer ends it. The router also knows which trunk a request
// comes from (its source address) and how the last call to each peer ended (for the console).
import { hostForHeader, type Endpoint } from '../transport/index.ts';
import { DigestClient } from '../ua/digest-client.ts';
import type { ServerConfig } from './config.ts';
import type { TrunkPeerOutcome, TrunkPeerState } from './console-model.ts';
import type { ForwardTarget } from './proxy-branch-set.ts';
import type { Logger } from './server-log.ts';
import type { SipResponse } from '../sip/index.ts';

export type Trunk = ServerConfig['trunks'][number];
type Peer = Trunk['peers'][number];

/** One call's way through a trunk: the first target and what to do at each peer's final answer. */
export interface TrunkPlan {
  trunk: Trunk;
  first: ForwardTarget;
  /** The first peer as transport:host:port, for the log. */
  firstPeer: string;
  /** The callee as user@domain (the trunk's domain, else the first peer's host). */
  callee: string;
  /** The next peer's target after a final answer (or none: undefined), when one is left. */
  failover(res: SipResponse | undefined): ForwardTarget[] | undefined;
  /** The final answer about to go upstream. */
  onFinal(res: SipResponse): void;
}

function peerLabel(p: Peer): string {
  return `${p.transport}:${hostForHeader(p.host)}:${p.port}`;
}

export class TrunkRouter {
  private readonly trunks = new Map<string, Trunk>();
  private readonly sources = new Map<string, Trunk>();
  /** How the last INVITE to each peer of each trunk ended, by trunk name then peer index. */
  private readonly outcomes = new Map<string, (TrunkPeerOutcome | undefined)[]>();

  constructor(
    trunks: readonly Trunk[],
    private readonly log: Logger,
  ) {
    for (const t of trunks) {
      this.trunks.set(t.name, t);
      const sources = t.inboundAddresses ?? t.peers.map((p) => `${p.host}:${p.port}`);
      for (const s of sources) this.sources.set(s.toLowerCase(), t);
    }
  }

  /** The trunk a request from `source` comes from (by address and port, or address alone). */
  fromSource(source: Endpoint): Trunk | undefined {
    const host = source.address.toLowerCase();
    return this.sources.get(`${host}:${source.port}`) ?? this.sources.get(host);
  }

  /** A call to `number` over the trunk `name` (a name the config validated). */
  plan(name: string, number: string, callId: string): TrunkPlan {
    const trunk = this.trunks.get(name)!;
    const peers = [...trunk.peers];
    const auth = trunk.auth
      ? new DigestClient(trunk.auth.username, trunk.auth.password)
      : undefined;
    const toPeer = (p: Peer): ForwardTarget => ({
      uri: `sip:${number}@${trunk.domain ?? hostForHeader(p.host)}${trunk.domain ? '' : `:${p.port}`}`,
      destination: { protocol: p.transport, address: p.host, port: p.port },
      ...(auth ? { auth } : {}),
    });
    const first = peers.shift()!;
    // The peer being tried, and whether its outcome is known (failover saw its final).
    const tried = () => trunk.peers.length - peers.length - 1;
    let settled = false;
    return {
      trunk,
      first: toPeer(first),
      firstPeer: peerLabel(first),
      callee: `${number}@${trunk.domain ?? first.host}`,
      failover: (res) => {
        const retry = res === undefined || res.status === 503 || res.status === 408;
        this.outcome(trunk.name, tried(), res?.status ?? 408, retry && peers.length > 0);
        settled = !retry || peers.length === 0;
        const next = retry ? peers.shift() : undefined;
        if (!next) return undefined;
        this.log.info(
          {
            event: 'call.failover',
            callId,
            trunk: trunk.name,
            status: res?.status ?? 408,
            next: peerLabel(next),
          },
          `call ${callId}: trunk ${trunk.name} answered ${res?.status ?? 'nothing'}, trying ${next.host}:${next.port}`,
        );
        return [toPeer(next)];
      },
      onFinal: (res) => {
        if (!settled) this.outcome(trunk.name, tried(), res.status, false);
      },
    };
  }

  /** Each trunk's peers in order, with how the last INVITE sent to each ended (the console). */
  peers(): { name: string; peers: TrunkPeerState[] }[] {
    return [...this.trunks.values()].map((t) => {
      const outcomes = this.outcomes.get(t.name);
      return {
        name: t.name,
        peers: t.peers.map((p, i) => {
          const last = outcomes?.[i];
          return { peer: peerLabel(p), ...(last ? { last: { ...last } } : {}) };
        }),
      };
    });
  }

  private outcome(name: string, peer: number, status: number, failedOver: boolean): void {
    let outcomes = this.outcomes.get(name);
    if (!outcomes) this.outcomes.set(name, (outcomes = []));
    outcomes[peer] = { ts: Date.now(), status, failedOver };
  }
}
