// What an element checks before acting on a request that parsed (RFC 3261 §8.2, §16.3, RFC 4475
// §3.3). parseMessage rejects what is syntactically wrong; this reports what is well formed but
// cannot be processed, with the status and reason phrase to answer.
//
//   missing To/From/Call-ID/CSeq/Via            400 (RFC 4475 insuf), missingHeaders
//   the same single-valued header twice         400 (multi01, mcl01)
//   a Request-URI scheme not supported          416 (unkscm, novelsc)
//   Require / Proxy-Require naming an extension 420 with Unsupported (bext01)
//   a body of a type not accepted               415 (invut)

import { H, canonicalName } from './header-names.ts';
import type { SipRequest } from './message.ts';

export interface RequestProblem {
  status: number;
  reason: string;
  /** For 420: the extensions to list in Unsupported. */
  unsupported?: string[];
}

export interface ValidateOptions {
  /** Request-URI schemes this element handles (default sip, sips, tel). */
  schemes?: string[];
  /** Option tags this element supports; Require naming anything else gets 420. Default none. */
  extensions?: string[];
  /** Also check Proxy-Require (a proxy does; a UAS ignores it... RFC 3261 §8.2.2.3 says a UAS checks Require only). */
  proxy?: boolean;
  /** Body media types accepted (e.g. ['application/sdp']); undefined = do not check. */
  accept?: string[];
}

const MANDATORY = [H.to, H.from, H.callId, H.cseq, H.via];
const MANDATORY_WITH_MAX_FORWARDS = [...MANDATORY, H.maxForwards];
const DEFAULT_SCHEMES = ['sip', 'sips', 'tel'];
const SINGLE = [H.to, H.from, H.callId, H.cseq, H.maxForwards, H.contentLength, H.contentType];
/** The same lists as bit masks of header kinds (every kind of H is below 32). */
const maskOf = (kinds: readonly number[]) => kinds.reduce((m, k) => m | (1 << k), 0);
const NONE: readonly string[] = [];
const MANDATORY_MASK = maskOf(MANDATORY);
const SINGLE_MASK = maskOf(SINGLE);

/**
 * §8.1.1: the header fields without which a request is not one: 400 with the reason naming
 * them. An element checks To, From, Call-ID, CSeq and Via; Max-Forwards only with
 * `maxForwards`, since a proxy passes a request that lacks it (§16.3 step 3) although a UAC
 * must send it (what `trapezoid parse` checks).
 */
export function missingHeaders(
  req: SipRequest,
  opts: { maxForwards?: boolean } = {},
): RequestProblem | undefined {
  const wanted = opts.maxForwards ? MANDATORY_WITH_MAX_FORWARDS : MANDATORY;
  // Every request of a call comes through here: nothing is allocated when nothing is missing.
  let complete = true;
  for (const k of wanted)
    if (req._first(k) < 0) {
      complete = false;
      break;
    }
  if (complete) return undefined;
  const missing = wanted.filter((k) => req._first(k) < 0).map(canonicalName);
  return {
    status: 400,
    reason: `Missing ${missing.join(', ')} header${missing.length > 1 ? 's' : ''}`,
  };
}

/** Returns the first problem found, or undefined when the request can be processed. */
export function validateRequest(
  req: SipRequest,
  opts: ValidateOptions = {},
): RequestProblem | undefined {
  // One pass over the header kinds finds what is there and what is there twice; the reason is
  // worked out only when something is wrong.
  let seen = 0;
  let twice = 0;
  const n = req._count();
  for (let i = 0; i < n; i++) {
    const kind = req._kindAt(i);
    const bit = kind < 32 ? 1 << kind : 0;
    twice |= seen & bit;
    seen |= bit;
  }
  if ((seen & MANDATORY_MASK) !== MANDATORY_MASK) return missingHeaders(req);
  if ((twice & SINGLE_MASK) !== 0) {
    const kind = SINGLE.find((k) => (twice & (1 << k)) !== 0)!;
    return { status: 400, reason: `Multiple ${canonicalName(kind)} headers` };
  }
  const schemes = opts.schemes ?? DEFAULT_SCHEMES;
  const scheme = req.requestUri.scheme;
  if (!schemes.includes(scheme))
    return { status: 416, reason: `Unsupported URI Scheme '${scheme}'` };
  const requireKind = opts.proxy ? H.proxyRequire : H.require;
  const required =
    (seen & (1 << requireKind)) === 0
      ? NONE
      : opts.proxy
        ? req.proxyRequire
        : req.method === 'CANCEL' || req.method === 'ACK'
          ? NONE
          : req.require;
  if (required.length > 0) {
    const known = new Set((opts.extensions ?? []).map((e) => e.toLowerCase()));
    const unsupported = required.filter((t) => !known.has(t.toLowerCase()));
    if (unsupported.length > 0) return { status: 420, reason: 'Bad Extension', unsupported };
  }
  if (opts.accept && req.body.length > 0) {
    const type = req.contentType;
    if (type === undefined || !opts.accept.includes(type))
      return { status: 415, reason: `Unsupported Media Type '${type ?? 'none'}'` };
  }
  return undefined;
}
