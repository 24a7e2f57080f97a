// This call server as one node of a cluster sharing its stores (config `store.live: redis://`):
// it says it is alive (a heartbeat with the TTL `cluster.deadAfterSeconds`), learns which nodes
// are, and when a node's heartbeat expires while it had calls up, exactly one survivor claims
// them and closes their CDRs with cause node-lost.
//
// A phone registered over TCP, TLS or WebSocket is reachable only over the connection it holds
// with the node it registered through. A request for it that arrives at another node goes through
// that node, with a Route naming the connection (a flow, RFC 5626's word):
//
//   Route: <sip:NODE-ADDRESS:PORT;lr;flow=CONNECTION-ID;ftok=MAC>
//
// The MAC is an HMAC of the connection id under the cluster's shared `flow` secret (the security
// store's, rotated daily, two kept), so nobody outside the cluster can aim a request at a phone's
// connection. A UDP binding is reached directly from any node (its address is a NAT's pinhole
// or the phone itself), so it needs no such detour.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SipRequest } from '../sip/index.ts';
import type { Stores } from '../store/open-stores.ts';
import type { Binding, NodeInfo } from '../store/stores.ts';
import { formatEndpoint, hostForHeader, type Endpoint } from '../transport/index.ts';
import type { ServerConfig } from './config.ts';
import type { ForwardTarget } from './proxy-branch-set.ts';
import type { Logger } from './server-log.ts';

const FLOW_PARAM = 'flow';
const FLOW_TOKEN_PARAM = 'ftok';
/** How long one flow secret signs new tokens, and how many are kept for checking. */
const FLOW_SECRET_ROTATE_MS = 24 * 3600 * 1000;
const FLOW_SECRETS_KEPT = 2;

/** What a request's top Route says about flows: nothing, a forged one, or a flow of ours. */
export type FlowRoute =
  { kind: 'none' } | { kind: 'forged' } | { kind: 'flow'; connectionId: string };

/** Which of a node's listeners another node uses to reach it: UDP first, then TCP, then TLS. */
function rankInternal(e: Endpoint): number {
  return ['udp', 'tcp', 'tls', 'ws', 'wss'].indexOf(e.protocol);
}

/** 'udp:1.2.3.4:5060' / 'udp:[::1]:5060' back into an Endpoint. */
export function parseTarget(target: string): Endpoint {
  const first = target.indexOf(':');
  const last = target.lastIndexOf(':');
  const protocol = target.slice(0, first) as Endpoint['protocol'];
  let address = target.slice(first + 1, last);
  if (address.startsWith('[')) address = address.slice(1, -1);
  return { protocol, address, port: Number(target.slice(last + 1)) };
}

export class ClusterMember {
  /** Keys of the flow tokens, newest first (read from the security store at start). */
  private flowKeys: Buffer[] = [];
  /** Live nodes by id, as of the last heartbeat. */
  private live = new Map<string, NodeInfo>();
  private timer?: NodeJS.Timeout;
  private listeners: Endpoint[] = [];

  constructor(
    private readonly stores: Stores,
    private readonly config: ServerConfig['cluster'],
    private readonly log: Logger,
  ) {}

  get node(): string {
    return this.stores.node;
  }

  /**
   * Before the node listens: the flow keys, and the calls this node had up when it last stopped
   * taken back (before a heartbeat says it is alive, so no other node claims them meanwhile).
   */
  async prepare(): Promise<void> {
    const secrets = await this.stores.security.secrets(
      'flow',
      FLOW_SECRET_ROTATE_MS,
      FLOW_SECRETS_KEPT,
    );
    this.flowKeys = secrets.map((s) => s.key);
    await this.stores.nodes.claimCalls(this.node);
  }

  /** Once listening: the first heartbeat, then one every cluster.heartbeatSeconds (shared stores only). */
  async start(listeners: Endpoint[]): Promise<void> {
    this.listeners = listeners;
    if (!this.stores.shared) return;
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.config.heartbeatSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * A heartbeat: this node is alive for deadAfterSeconds more; the live nodes are read back; a
   * dead node's calls are claimed (exactly one survivor gets them) and closed as node-lost.
   */
  async beat(): Promise<void> {
    const { nodes, cdrs } = this.stores;
    try {
      await nodes.heartbeat(
        { node: this.node, sip: this.listeners.map(formatEndpoint), seenAt: Date.now() },
        this.config.deadAfterSeconds * 1000,
      );
      this.live = new Map((await nodes.liveNodes()).map((n) => [n.node, n]));
      for (const dead of await nodes.deadNodesWithCalls()) {
        if (dead === this.node) continue;
        const claimed = await nodes.claimCalls(dead);
        if (claimed.length === 0) continue;
        const closed = await cdrs.closeOpenCdrs(dead, 'node-lost');
        this.log.warn(
          { event: 'node.lost', node: dead, calls: claimed.length, cdrs: closed },
          `node ${dead} stopped answering: ${closed} of its call(s) closed with cause node-lost`,
        );
      }
    } catch (err) {
      this.log.warn(
        { event: 'cluster.error', error: (err as Error).message },
        `heartbeat: ${(err as Error).message}`,
      );
    }
  }

  /**
   * Before the bindings of a lookup are judged: when one is held by a node this node has not
   * heard of yet (it started after our last heartbeat), the live nodes are read again (at most
   * once every 250 ms), so a phone is not reported unavailable for a heartbeat's time.
   */
  async learnHolders(bindings: readonly Binding[]): Promise<void> {
    if (!this.stores.shared) return;
    const unknown = bindings.some(
      (b) =>
        b.flow.connectionId !== undefined &&
        b.flow.node !== this.node &&
        !this.live.has(b.flow.node),
    );
    if (!unknown || Date.now() - this.readAt < 250) return;
    this.readAt = Date.now();
    try {
      this.live = new Map((await this.stores.nodes.liveNodes()).map((n) => [n.node, n]));
    } catch {
      // Redis unreachable: the bindings held elsewhere stay unreachable for now.
    }
  }

  private readAt = 0;

  /** Whether a binding can be reached from here: ours, UDP (direct), or held by a live node. */
  reachable(b: Binding): boolean {
    if (b.flow.node === this.node || b.flow.connectionId === undefined) return true;
    return this.live.has(b.flow.node);
  }

  /**
   * Where a request for a binding goes: to the phone (over our own connection, or over UDP to its
   * address whichever node it registered through), or through the node that holds its connection.
   * A Path stored with the binding is put on as Route (RFC 3327 §5.3).
   */
  target(b: Binding): ForwardTarget {
    const path = b.path ?? [];
    const id = b.flow.connectionId;
    if (id === undefined || b.flow.node === this.node) {
      return {
        uri: b.contact,
        destination: b.target,
        ...(id !== undefined ? { connectionId: id } : {}),
        ...(path.length > 0 ? { route: path } : {}),
      };
    }
    const holder = this.live.get(b.flow.node)!;
    const hop = holder.sip.map(parseTarget).sort((x, y) => rankInternal(x) - rankInternal(y))[0]!;
    const transport = hop.protocol === 'udp' ? '' : `;transport=${hop.protocol}`;
    const mac = this.mac(this.flowKeys[0]!, id);
    return {
      uri: b.contact,
      destination: hop,
      route: [
        `<sip:${hostForHeader(hop.address)}:${hop.port};lr${transport};${FLOW_PARAM}=${id};${FLOW_TOKEN_PARAM}=${mac}>`,
        ...path,
      ],
    };
  }

  /** What the request's top Route (already known to name us) says about flows. */
  flowRoute(req: SipRequest): FlowRoute {
    const top = req.route[0]?.uri;
    const id = top?.params[FLOW_PARAM];
    if (id === undefined) return { kind: 'none' };
    if (typeof id !== 'string' || id === '') return { kind: 'forged' };
    const given = Buffer.from(top!.params[FLOW_TOKEN_PARAM] ?? '');
    const genuine = this.flowKeys.some((k) => {
      const want = Buffer.from(this.mac(k, id));
      return want.length === given.length && timingSafeEqual(want, given);
    });
    return genuine ? { kind: 'flow', connectionId: id } : { kind: 'forged' };
  }

  private mac(key: Buffer, connectionId: string): string {
    return createHmac('sha256', key)
      .update(connectionId)
      .digest()
      .subarray(0, 12)
      .toString('base64url');
  }
}
