import type { Endpoint } from './endpoint.ts';
import { formatEndpoint } from './endpoint.ts';

export type TransportErrorCode = 'connect' | 'closed' | 'no-listener' | 'send';

/** A failure to move a message: reported to the transaction layer, never thrown at a peer. */
export class TransportError extends Error {
  readonly code: TransportErrorCode;
  readonly endpoint?: Endpoint;

  constructor(code: TransportErrorCode, message: string, endpoint?: Endpoint, cause?: unknown) {
    super(endpoint ? `${message} (${formatEndpoint(endpoint)})` : message, { cause });
    this.name = 'TransportError';
    this.code = code;
    this.endpoint = endpoint;
  }
}
