// Who the call server is (RFC 3261 §16.4, §16.3 step 4): the domain it serves and the addresses it
// listens on, so it can tell a URI, a Route or a Via that names itself from one naming someone
// else; the Via and Record-Route URI it puts on what it forwards; and the loop check on the branch
// it writes (§16.6 step 8).
import { networkInterfaces } from 'node:os';
import type { SipRequest, SipUri, Via } from '../sip/index.ts';
import {
  defaultPort,
  hostForHeader,
  protocolFromToken,
  type Endpoint,
  type TransportLayer,
} from '../transport/index.ts';

let localAddressCache: Set<string> | undefined;
function localAddresses(): Set<string> {
  if (!localAddressCache) {
    localAddressCache = new Set(['127.0.0.1', '::1']);
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) localAddressCache.add(a.address.toLowerCase());
    }
  }
  return localAddressCache;
}

export class LocalIdentity {
  /** The listeners as bound (set when the server has started). */
  listeners: Endpoint[] = [];

  constructor(
    /** The domain served, lower case. */
    readonly domain: string,
    private readonly transport: Pick<TransportLayer, 'viaFor' | 'asksRport'>,
  ) {}

  /** Whether a listener answers at this address (a wildcard listener at every local address). */
  private listensOn(l: Endpoint, bare: string): boolean {
    if (l.address === bare) return true;
    if (l.address !== '0.0.0.0' && l.address !== '::') return false;
    return localAddresses().has(bare);
  }

  /** The host is our domain or one of our addresses (any port). */
  isOurHost(host: string): boolean {
    const h = host.toLowerCase();
    if (h === this.domain) return true;
    const bare = h.startsWith('[') ? h.slice(1, -1) : h;
    return this.listeners.some((l) => this.listensOn(l, bare));
  }

  /** The URI names us: our domain, or an address and port we listen on. */
  isUs(uri: SipUri): boolean {
    const h = uri.host.toLowerCase();
    if (h === this.domain) return true;
    const bare = h.startsWith('[') ? h.slice(1, -1) : h;
    return this.listeners.some(
      (l) => this.listensOn(l, bare) && (uri.port ?? defaultPort(l.protocol)) === l.port,
    );
  }

  isOurVia(via: { host: string; port?: number; transport: string }): boolean {
    const bare = via.host.startsWith('[') ? via.host.slice(1, -1) : via.host;
    const port = via.port ?? defaultPort(protocolFromToken(via.transport) ?? 'udp');
    return this.listeners.some((l) => this.listensOn(l, bare) && port === l.port);
  }

  /**
   * Our Via toward `destination` (the listener that will send it), with `branch`: the parsed
   * form, for SipMessage.prependVia (the transaction layer reads its branch without parsing it).
   */
  ownVia(destination: Endpoint, branch: string): Via {
    const sentBy = this.transport.viaFor(destination.protocol, destination.address);
    // With rport already asked for (RFC 3581), the transport has no Via to rewrite on sending.
    const rport = this.transport.asksRport;
    const params: Via['params'] = rport ? { branch, rport: null } : { branch };
    const via: Via = {
      protocol: 'SIP/2.0',
      transport: sentBy.transport,
      host: sentBy.host,
      params,
      branch,
    };
    if (sentBy.port) via.port = sentBy.port;
    if (rport) via.rport = null;
    return via;
  }

  /** Our URI at the listener `local` (a Record-Route names the one the request came in on). */
  ownUri(local: Endpoint): string {
    const transport = local.protocol === 'udp' ? '' : `;transport=${local.protocol}`;
    return `sip:${hostForHeader(local.address)}:${local.port}${transport}`;
  }

  /** §16.6 step 8: a hash of what makes this request this request, put in our branch. */
  loopHash(req: SipRequest): string {
    let text = `${req.uri}|${req.from.tag ?? ''}|${req.to.tag ?? ''}|${req.callId}|${req.cseq.seq}`;
    for (const r of req.getAll('Route')) text += `|${r}`;
    return textHash40(text);
  }

  /** §16.3 step 4: our own Via with the same loop hash means the request came back unchanged. */
  isLoop(req: SipRequest): boolean {
    if (req.viaCount < 2) return false; // our own Via is never the only one
    const vias = req.via;
    const mark = `z9hG4bK${this.loopHash(req)}.`;
    return vias.some((v) => this.isOurVia(v) && v.branch?.startsWith(mark) === true);
  }
}

/**
 * 40 bits of hash of a text, as 10 hex digits: FNV-1a (32 bits) and, over the same code units,
 * the multiply-by-31 string hash (8 bits of it). A loop hash only has to tell our own requests
 * apart (§16.6 step 8 asks for no cryptographic hash): a collision makes one spiral look like a
 * loop, one chance in 2^40. Computed in JS: a native MD5 cost about 1 % of a proxied call's CPU.
 */
export function textHash40(text: string): string {
  let a = 0x811c9dc5;
  let b = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = (Math.imul(b, 31) + c) | 0;
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b & 0xff).toString(16).padStart(2, '0');
}
