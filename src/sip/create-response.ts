// Building a response to a request (RFC 3261 §8.2.6.2): Via (all), From, To (+ tag), Call-ID and
// CSeq copied from the request.

import { H } from './header-names.ts';
import { SipResponse, type SipRequest } from './message.ts';
import { reasonPhrase } from './reason-phrase.ts';

export interface CreateResponseOptions {
  /** Tag added to To when the request's To has none (a UAS sets it on every response but 100). */
  toTag?: string;
}

export function createResponse(
  req: SipRequest,
  status: number,
  reason?: string,
  opts?: CreateResponseOptions,
): SipResponse {
  const res = new SipResponse(status, reason ?? reasonPhrase(status));
  const n = req._count();
  for (let i = 0; i < n; i++) {
    const kind = req._kindAt(i);
    if (kind === H.via || kind === H.from || kind === H.callId || kind === H.cseq) {
      res.append(req._nameAt(i).length === 1 ? canonical(kind) : req._nameAt(i), req._valueAt(i));
    } else if (kind === H.to) {
      let value = req._valueAt(i);
      if (opts?.toTag !== undefined && !hasTag(req)) value += `;tag=${opts.toTag}`;
      res.append(req._nameAt(i).length === 1 ? 'To' : req._nameAt(i), value);
    }
  }
  return res;
}

function canonical(kind: number): string {
  return kind === H.via ? 'Via' : kind === H.from ? 'From' : kind === H.callId ? 'Call-ID' : 'CSeq';
}

function hasTag(req: SipRequest): boolean {
  try {
    return req.to.tag !== undefined;
  } catch {
    return false;
  }
}
