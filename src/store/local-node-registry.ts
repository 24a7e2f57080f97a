// The node registry of one process, in memory: the embedded default has a single node, which
// is alive while it runs, so nothing here needs to outlive the process (its interrupted calls
// are closed at the next start from the CDRs, with cause server-restart). It follows the same
// contract as the Redis registry, so the server code does not tell them apart.
import type { CdrKey, NodeInfo, NodeRegistry } from './stores.ts';

export interface LocalNodeRegistryOptions {
  /** Clock for heartbeat expiry (default Date.now). */
  now?: () => number;
}

export class LocalNodeRegistry implements NodeRegistry {
  private readonly nodes = new Map<string, { info: NodeInfo; until: number }>();
  private readonly calls = new Map<string, Map<string, CdrKey>>();
  private readonly now: () => number;

  constructor(opts: LocalNodeRegistryOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  private alive(node: string): boolean {
    const n = this.nodes.get(node);
    return n !== undefined && n.until > this.now();
  }

  async heartbeat(info: NodeInfo, ttlMs: number): Promise<void> {
    this.nodes.set(info.node, { info: { ...info, sip: [...info.sip] }, until: this.now() + ttlMs });
  }

  async liveNodes(): Promise<NodeInfo[]> {
    const out: NodeInfo[] = [];
    for (const [id, n] of this.nodes) {
      if (this.alive(id)) out.push({ ...n.info, sip: [...n.info.sip] });
      else if (!this.calls.has(id)) this.nodes.delete(id);
    }
    return out.sort((a, b) => (a.node < b.node ? -1 : 1));
  }

  async deadNodesWithCalls(): Promise<string[]> {
    return [...this.calls.keys()].filter((id) => !this.alive(id)).sort();
  }

  async callStarted(node: string, callId: string, key: CdrKey): Promise<void> {
    let calls = this.calls.get(node);
    if (!calls) this.calls.set(node, (calls = new Map()));
    calls.set(callId, key);
  }

  async callEnded(node: string, callId: string): Promise<void> {
    const calls = this.calls.get(node);
    if (!calls) return;
    calls.delete(callId);
    if (calls.size === 0) this.calls.delete(node);
  }

  async claimCalls(deadNode: string): Promise<Array<{ callId: string; key: CdrKey }>> {
    if (this.alive(deadNode)) return [];
    const calls = this.calls.get(deadNode);
    this.calls.delete(deadNode);
    return calls ? [...calls].map(([callId, key]) => ({ callId, key })) : [];
  }

  async close(): Promise<void> {}
}
