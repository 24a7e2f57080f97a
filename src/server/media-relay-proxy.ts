// The proxy's side of the media relay: which SIP messages carry SDP the relay must rewrite, and
// what goes into the call detail record when a relayed call ends.
//
//   INVITE / re-INVITE / UPDATE / PRACK with SDP, going downstream   request(): the writer is the From tag
//   18x / 2xx with SDP to those, going upstream (or retransmitted)     response(): the writer is the To tag
//   ACK with SDP (the answer of a late offer, made in the 2xx)         request()
//   the call's CDR is written (final error, CANCEL's 487, BYE)         end(): frees the ports, gives the summary
//
// The relay itself only tracks which tag wrote an SDP (see media-relay.ts), so an offer and an
// answer are the same operation here. A response or ACK creates a session only for a call whose
// INVITE went through request() (a late offer: the INVITE had no SDP), so a 2xx retransmitted
// after the BYE cannot open ports again. The body is replaced and Content-Length set to match.
import type { SipRequest, SipResponse } from '../sip/index.ts';
import type { MediaRelay, RelaySessionStats } from './media-relay.ts';

/** What a CDR says about the media of a relayed call (both directions, every stream). */
export interface MediaSummary {
  /** RTP packets relayed. */
  packets: number;
  /** RTP packets lost on the way to the relay (RFC 3550 cumulative loss). */
  lost: number;
  /** The highest interarrival jitter of any direction, ms. */
  jitterMs: number;
  /** The lowest MOS estimate of any G.711 direction that carried packets. */
  mos: number | undefined;
  /** Packets from sources other than the latched ones (injection), dropped. */
  dropped: number;
}

const SDP_METHODS = new Set(['INVITE', 'ACK', 'UPDATE', 'PRACK']);
/** Calls remembered as relayed, and summaries of sessions the relay timed out. */
const MAX_TRACKED = 100_000;

export function summarize(stats: RelaySessionStats): MediaSummary {
  let packets = 0;
  let lost = 0;
  let jitterMs = 0;
  let dropped = 0;
  let mos: number | undefined;
  for (const d of stats.streams) {
    packets += d.packets;
    lost += Math.max(0, d.lost);
    dropped += d.dropped;
    if (d.packets > 0) jitterMs = Math.max(jitterMs, d.jitterMs);
    if (d.packets > 0 && d.mos !== undefined)
      mos = mos === undefined ? d.mos : Math.min(mos, d.mos);
  }
  return {
    packets,
    lost,
    jitterMs: Math.round(jitterMs * 1000) / 1000,
    mos: mos === undefined ? undefined : Math.round(mos * 100) / 100,
    dropped,
  };
}

function hasSdp(m: SipRequest | SipResponse): boolean {
  return m.contentType === 'application/sdp' && m.body.length > 0;
}

function setBody(m: SipRequest | SipResponse, sdp: string): void {
  m.body = sdp;
  m.set('Content-Length', String(m.body.length));
}

export class MediaRelayProxy {
  /** Call-IDs whose INVITE went through the relay. */
  private readonly relayed = new Set<string>();
  private readonly timedOut = new Map<string, MediaSummary>();

  constructor(readonly relay: MediaRelay) {
    relay.onSessionEnd((callId, reason, stats) => {
      if (reason !== 'timeout') return;
      // The call may go on without media; its CDR still gets what was relayed.
      this.timedOut.set(callId, summarize(stats));
      if (this.timedOut.size > MAX_TRACKED)
        this.timedOut.delete(this.timedOut.keys().next().value!);
    });
  }

  /**
   * A request going downstream: its SDP is rewritten in place. Throws MediaRelayError (no ports)
   * or SdpParseError (the body is not SDP): the caller answers the request with an error.
   */
  request(req: SipRequest): void {
    if (!SDP_METHODS.has(req.method)) return;
    const callId = req.callId;
    if (req.method === 'INVITE') {
      this.relayed.add(callId);
      if (this.relayed.size > MAX_TRACKED) this.relayed.delete(this.relayed.values().next().value!);
    } else if (!this.relayed.has(callId)) return;
    if (!hasSdp(req)) return;
    const tag = req.from.tag ?? '';
    setBody(req, this.relay.offer(callId, tag, req.body.toString('utf8')));
  }

  /** A response going upstream: 18x/2xx with SDP are rewritten in place. Same errors. */
  response(res: SipResponse): void {
    if (res.status <= 100 || res.status >= 300) return;
    if (!SDP_METHODS.has(res.cseq.method) || !hasSdp(res)) return;
    const callId = res.callId;
    if (!this.relayed.has(callId)) return;
    const tag = res.to.tag ?? '';
    setBody(res, this.relay.answer(callId, tag, res.body.toString('utf8')));
  }

  /** The call is over: its ports are freed; the media summary for its CDR, if it had media. */
  end(callId: string): MediaSummary | undefined {
    this.relayed.delete(callId);
    const stats = this.relay.end(callId);
    const timedOut = this.timedOut.get(callId);
    this.timedOut.delete(callId);
    return stats ? summarize(stats) : timedOut;
  }
}
