// Sender and receiver of each message of a flow that has no addresses (a list of messages, as in
// RFC 3665's examples), worked out from the messages alone. A host is named by its Via sent-by
// ('host:port', port 5060 or 5061 for TLS/sips when not written). The rules, in order:
//
// Requests: the sender is the top Via's sent-by. The receiver is
//   1. forwarded: the element whose Via sits on top of this request's Via list in a later request
//      with the same CSeq (a proxy adds exactly one Via: RFC 3261 §16.6 step 8);
//   2. CANCEL, and ACK for a non-2xx final response: where the INVITE with the same top branch
//      went (both are hop-by-hop: §9.1, §17.1.1.3);
//   3. when the request was answered: where the same sender sent a forwarded request for the same
//      Request-URI (its outbound proxy or next hop);
//   4. for INVITE: the Contact of a 101-299 response to it (the UAS that answered, §12.1.1);
//   5. otherwise the Request-URI's host:port (§8.1.2: with no route set, send to the R-URI).
// Responses: the receiver is the top Via's sent-by (§18.2.2); the sender is the receiver of the
// latest earlier request with the same Via list and CSeq, else the response's Contact.
import { parseUri, SipRequest, SipResponse } from '../sip/index.ts';
import type { SipMessage, Via } from '../sip/index.ts';

export interface FlowHop {
  /** Host ids 'host:port'. */
  from: string;
  to: string;
}

const SIP_PORT = 5060;
const SIPS_PORT = 5061;

function viaHost(v: Via): string {
  const secure = /^(TLS|WSS)$/i.test(v.transport);
  return `${v.host}:${v.port ?? (secure ? SIPS_PORT : SIP_PORT)}`;
}

function uriHost(text: string): string | undefined {
  try {
    const uri = parseUri(text);
    if (!uri.host) return undefined;
    return `${uri.host}:${uri.port ?? (uri.scheme === 'sips' ? SIPS_PORT : SIP_PORT)}`;
  } catch {
    return undefined;
  }
}

function viaKey(v: Via): string {
  return `${viaHost(v)};${v.branch ?? ''}`;
}

/** Derives sender and receiver of every message of a flow (see the rules above). */
export function deriveFlowHops(messages: SipMessage[]): FlowHop[] {
  const vias = messages.map((m) => m.via.map(viaKey));
  const hops: Array<FlowHop | undefined> = new Array(messages.length);
  const requestTo: Array<string | undefined> = new Array(messages.length);
  // 1. forwarded requests
  messages.forEach((m, i) => {
    if (!(m instanceof SipRequest)) return;
    for (let j = i + 1; j < messages.length; j++) {
      const n = messages[j];
      if (!(n instanceof SipRequest) || n.method !== m.method || n.cseq.seq !== m.cseq.seq)
        continue;
      const below = vias[j].slice(1);
      if (below.length === vias[i].length && below.every((k, x) => k === vias[i][x])) {
        requestTo[i] = viaHost(n.via[0]);
        break;
      }
    }
  });
  const answered = (i: number): SipResponse[] =>
    messages.filter(
      (r, j): r is SipResponse =>
        j > i &&
        r instanceof SipResponse &&
        r.cseq.seq === messages[i].cseq.seq &&
        r.cseq.method === messages[i].cseq.method &&
        vias[j].join(',') === vias[i].join(','),
    );
  // Routes learned from forwarded requests: sender + Request-URI -> next hop.
  const learned = new Map<string, string>();
  messages.forEach((m, i) => {
    if (m instanceof SipRequest && requestTo[i]) {
      learned.set(`${viaHost(m.topVia)} ${m.uri}`, requestTo[i]!);
    }
  });
  messages.forEach((m, i) => {
    if (!(m instanceof SipRequest) || requestTo[i]) return;
    const sender = viaHost(m.topVia);
    // 2. CANCEL / ACK of a non-2xx go where their INVITE went
    if (m.method === 'CANCEL' || m.method === 'ACK') {
      for (let j = i - 1; j >= 0; j--) {
        const inv = messages[j];
        if (!(inv instanceof SipRequest) || inv.method !== 'INVITE') continue;
        if (inv.topVia.branch !== m.topVia.branch || viaHost(inv.topVia) !== sender) continue;
        const finals = answered(j).filter((r) => r.status >= 200);
        const nonSuccess = finals.length > 0 && finals.every((r) => r.status >= 300);
        if (m.method === 'CANCEL' || nonSuccess) requestTo[i] = requestTo[j];
        break;
      }
      if (requestTo[i]) return;
    }
    const responses = answered(i);
    // 3. a route learned for the same sender and Request-URI, if anyone answered
    if (responses.length > 0) {
      const route = learned.get(`${sender} ${m.uri}`);
      if (route) {
        requestTo[i] = route;
        return;
      }
    }
    // 4. the UAS's Contact
    if (m.method === 'INVITE') {
      for (const r of responses) {
        if (r.status > 100 && r.status < 300 && r.contact.length > 0 && !r.contact[0].star) {
          const h = uriHost(formatContactUri(r));
          if (h) {
            requestTo[i] = h;
            return;
          }
        }
      }
    }
    // 5. the Request-URI
    requestTo[i] = uriHost(m.uri) ?? 'unknown:0';
  });
  messages.forEach((m, i) => {
    if (m instanceof SipRequest) {
      hops[i] = { from: viaHost(m.topVia), to: requestTo[i]! };
      return;
    }
    const to = viaHost(m.topVia);
    let from: string | undefined;
    for (let j = i - 1; j >= 0; j--) {
      const q = messages[j];
      if (
        q instanceof SipRequest &&
        q.cseq.seq === m.cseq.seq &&
        q.cseq.method === m.cseq.method &&
        vias[j].join(',') === vias[i].join(',')
      ) {
        from = requestTo[j];
        break;
      }
    }
    if (!from && m.contact.length > 0 && !m.contact[0].star) from = uriHost(formatContactUri(m));
    hops[i] = { from: from ?? 'unknown:0', to };
  });
  return hops as FlowHop[];
}

function formatContactUri(m: SipMessage): string {
  const uri = m.contact[0].uri;
  return `${uri.scheme}:${uri.user ? uri.user + '@' : ''}${uri.host}${uri.port ? ':' + uri.port : ''}`;
}
