/**
 * The transaction layer's public face: import from here only.
 *
 * @module trapezoid/transaction
 */
export { TransactionLayer } from './transaction-layer.ts';
export type { RequestListener, ResponseListener } from './transaction-layer.ts';
export { ClientTransaction } from './client-transaction.ts';
export type { ClientHandlers, ClientState, LateAnswerHandler } from './client-transaction.ts';
export { ServerTransaction } from './server-transaction.ts';
export type { ServerState } from './server-transaction.ts';
export { InviteClientTransaction } from './invite-client-transaction.ts';
export { NonInviteClientTransaction } from './non-invite-client-transaction.ts';
export { InviteServerTransaction } from './invite-server-transaction.ts';
export { NonInviteServerTransaction } from './non-invite-server-transaction.ts';
export { DEFAULT_TIMERS } from './timers.ts';
export type { TransactionTimers } from './timers.ts';
export type { TransactionStats } from './transaction-context.ts';
export type { ResponseRoute } from './settled-table.ts';
export { ackForNon2xx } from './ack-for-non-2xx.ts';
