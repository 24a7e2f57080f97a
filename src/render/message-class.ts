// What colour family an arrow belongs to: requests, or the class of a response's status code
// (RFC 3261 §21: 1xx provisional, 2xx success, 3xx redirection, 4xx/5xx/6xx failures).
import type { LadderMessage } from './model.ts';

export type MessageClass = 'request' | '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | '6xx';

export function messageClass(m: Pick<LadderMessage, 'kind' | 'status'>): MessageClass {
  if (m.kind === 'request' || m.status === undefined) return 'request';
  const hundreds = Math.floor(m.status / 100);
  if (hundreds <= 1) return '1xx';
  if (hundreds >= 6) return '6xx';
  return `${hundreds}xx` as MessageClass;
}
