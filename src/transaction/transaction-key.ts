// Matching messages to transactions (RFC 3261 §17.1.3, §17.2.3, §9.2).
import type { SipRequest, SipResponse, Via } from '../sip/index.ts';

/** RFC 3261 branches start with this; others come from RFC 2543 elements. */
export const MAGIC_COOKIE = 'z9hG4bK';

/** §17.1.3: a response matches the client transaction with its top Via branch and CSeq method. */
export function clientKey(branch: string, method: string): string {
  return `${branch}|${method}`;
}

export function responseKey(response: SipResponse): string | undefined {
  const branch = response.firstVia?.branch;
  if (!branch) return undefined;
  return clientKey(branch, response.cseq.method);
}

function sentBy(via: Via): string {
  return `${via.host.toLowerCase()}:${via.port ?? ''}`;
}

/**
 * §17.2.3: the server transaction a request belongs to. With the magic cookie: branch, sent-by
 * and method, where ACK (and, for `method`, a CANCEL looking for its INVITE) uses INVITE. Without
 * it (RFC 2543): Request-URI, From tag, Call-ID, CSeq number, top Via and method; the To tag is
 * checked apart for an ACK (it must be the tag of the response sent).
 */
export function serverKey(
  request: SipRequest,
  method: string = request.method,
): string | undefined {
  const via = request.firstVia;
  if (!via) return undefined;
  const keyMethod = method === 'ACK' ? 'INVITE' : method;
  const branch = via.branch;
  // RFC 4475 §3.2.1: the cookie alone ('z9hG4bK') is no unique branch: match the RFC 2543 way.
  if (
    branch !== undefined &&
    branch.length > MAGIC_COOKIE.length &&
    branch.startsWith(MAGIC_COOKIE)
  ) {
    return `${branch}|${sentBy(via)}|${keyMethod}`;
  }
  return [
    '2543',
    request.uri,
    request.from.tag ?? '',
    request.callId,
    request.cseq.seq,
    sentBy(via),
    branch ?? '',
    keyMethod,
  ].join('|');
}

/** Whether a key came from the RFC 2543 fallback. */
export function isLegacyKey(key: string): boolean {
  return key.startsWith('2543|');
}
