// §17.1.1.3: the ACK a client INVITE transaction sends for a 300-699 response. It is part of
// the INVITE's transaction: same Request-URI, Call-ID, From, CSeq number, the one top Via of the
// request (same branch), the To of the response (with its tag), and the request's Route set.
import { SipRequest } from '../sip/index.ts';
import type { SipResponse } from '../sip/index.ts';

const ACK_MAX_FORWARDS = '70';

export function ackForNon2xx(invite: SipRequest, response: SipResponse): SipRequest {
  const headers: [string, string][] = [];
  const via = invite.get('Via');
  // The top Via value only: a comma list keeps the first element.
  const topVia = invite.getAll('Via')[0] ?? via;
  if (topVia !== undefined) headers.push(['Via', topVia]);
  for (const route of invite.getAll('Route')) headers.push(['Route', route]);
  headers.push(['Max-Forwards', ACK_MAX_FORWARDS]);
  const from = invite.get('From');
  if (from !== undefined) headers.push(['From', from]);
  const to = response.get('To');
  if (to !== undefined) headers.push(['To', to]);
  headers.push(['Call-ID', invite.callId]);
  headers.push(['CSeq', `${invite.cseq.seq} ACK`]);
  return new SipRequest('ACK', invite.uri, headers);
}
