// What a transaction needs from the layer that owns it.
import type { SipRequest } from '../sip/index.ts';
import type { Endpoint, InboundMessage, Transport } from '../transport/index.ts';
import type { Endable, TransactionTimers } from './timers.ts';
import type { ClientTransaction } from './client-transaction.ts';
import type { ServerTransaction } from './server-transaction.ts';

export interface TransactionStats {
  clientCreated: number;
  serverCreated: number;
  /** Requests and responses resent by timers A, E, G, or to answer a retransmission. */
  retransmissions: number;
  /** Request or ACK retransmissions absorbed by a server transaction. */
  absorbed: number;
  /** Timers B, F, H. */
  timeouts: number;
  transportErrors: number;
}

export interface TransactionContext {
  readonly transport: Transport;
  readonly timers: Readonly<TransactionTimers>;
  readonly stats: TransactionStats;
  /**
   * 'messages' (a user agent): a settled transaction keeps its request and last response (as
   * bytes, parsed again if read). 'minimum' (a proxy, with 64*T1 of settled transactions at
   * any time): it keeps what its state machine needs and the bytes it may resend, nothing of
   * the request (`request` and `inbound` then throw), and in Accepted and Completed no
   * `lastResponse` of a client transaction, in Accepted none of a server transaction.
   */
  readonly retain: 'messages' | 'minimum';
  /**
   * The layer's one object equal to `e` (protocol, address, port): what settled transactions
   * keep of where responses go is shared between the many that go to one place.
   */
  endpoint(e: Endpoint): Endpoint;
  clientEnded(tx: ClientTransaction): void;
  serverEnded(tx: ServerTransaction): void;
  /**
   * Starts an end timer (D, I, J, K, L, M): `tx` is terminated after `ms` (see EndTimerQueue).
   * Once started it is cleared only by the transaction ending.
   */
  endAfter(tx: Endable, ms: number): void;
  /** RFC 6026: an ACK reaching an INVITE server transaction in Accepted state goes to the TU. */
  ackToTU(ack: SipRequest, inbound: InboundMessage): void;
}
