// What a transaction needs from the layer that owns it.
import type { SipRequest } from '../sip/index.ts';
import type { Endpoint, InboundMessage, Transport } from '../transport/index.ts';
import type { Endable, TransactionTimers } from './timers.ts';
import type { ClientTransaction, LateAnswerHandler } from './client-transaction.ts';
import type { ServerTransaction } from './server-transaction.ts';
import type { ResponseRoute, SettledKind } from './settled-table.ts';

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
  /**
   * The layer's one route for this place, local listener and connection (settled-table.ts):
   * shared by the transactions whose responses go there. `target` is already the layer's
   * shared object for the place (endpoint()): routes are found by it.
   */
  route(target: Endpoint, local: Endpoint, connectionId: string | undefined): ResponseRoute;
  /**
   * A server transaction settled (Accepted, or a non-INVITE one Completed) with nothing left to
   * tell its TU: the layer answers for its key from now until 64*T1 as a row of its settled
   * table, resending `response` to retransmissions (Completed). False when it cannot take it
   * (a layer that retains messages, a key or response too long for a row): the transaction
   * then stays and runs its own end timer.
   */
  settle(key: string, kind: SettledKind, route: ResponseRoute, response?: Buffer): boolean;
  /**
   * An INVITE client transaction in Accepted whose TU handed it over (ClientTransaction
   * handOver): the layer passes its later 2xx to `handler` until Timer M, as a row of its settled
   * table. False when it cannot take it: the transaction then stays.
   */
  settleClient(tx: ClientTransaction, handler: LateAnswerHandler): boolean;
  clientEnded(tx: ClientTransaction): void;
  serverEnded(tx: ServerTransaction): void;
  /**
   * Starts an end timer (D, I, J, K, L, M): `tx` is terminated after `ms` (see EndTimerQueue).
   * Once started it is cleared only by the transaction ending (or the layer taking it over).
   * Returns the entry's number in its queue.
   */
  endAfter(tx: Endable, ms: number): number;
  /** RFC 6026: an ACK reaching an INVITE server transaction in Accepted state goes to the TU. */
  ackToTU(ack: SipRequest, inbound: InboundMessage): void;
}
