// The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, with RFC 6026's Accepted state).
//
//                       |INVITE from TU
//     Timer A fires     |INVITE sent      Timer B fires
//     Reset A,          V                 or transport error:
//     INVITE sent  +-----------+          inform TU
//         +--------|  Calling  |-----------------------------+
//         +------->|           |-------------+               |
//                  +-----------+   2xx       |               |
//                     |     |      2xx to TU |               |
//        300-699      |     |1xx             |               |
//        ACK sent     |     |1xx to TU       |               |
//        resp. to TU  |     V                V               |
//                     | +-----------+   +----------+         |
//                     | |Proceeding |-->| Accepted |<-+ 2xx  |
//                     | +-----------+2xx+----------+--+ to TU|
//                     |   |   1xx to TU      |               |
//                     V   V 300-699          | Timer M       |
//                  +-----------+             |               |
//   300-699 resent |           |             |               |
//   ACK resent +---| Completed |             |               |
//              +-->|           |             |               |
//                  +-----------+             |               |
//                        | Timer D           V               |
//                        +-------------> Terminated <--------+
import type { SipResponse } from '../sip/index.ts';
import type { InboundMessage } from '../transport/index.ts';
import { ClientTransaction } from './client-transaction.ts';
import { ackForNon2xx } from './ack-for-non-2xx.ts';
import { keepBytes, keptBuffer, type KeptBytes } from './own-bytes.ts';
import { startTimer, TIMEOUT_FACTOR } from './timers.ts';

function fireA(tx: InviteClientTransaction): void {
  tx.onTimerA();
}
function fireB(tx: InviteClientTransaction): void {
  tx.onTimerB();
}

export class InviteClientTransaction extends ClientTransaction {
  /** The ACK for a non-2xx final, resent for each retransmission of it (Timer D). */
  private ack?: KeptBytes;

  start(): void {
    this.context.stats.clientCreated++;
    this.sendRequest();
    if (!this.reliable) this.retransmitTimer = startTimer(fireA, this.interval, this);
    this.timeoutTimer = startTimer(fireB, TIMEOUT_FACTOR * this.context.timers.T1, this);
  }

  onTimerA(): void {
    this.retransmitTimer = undefined;
    if (this.state !== 'calling') return;
    this.context.stats.retransmissions++;
    this.sendRequest();
    this.interval *= 2;
    this.retransmitTimer = startTimer(fireA, this.interval, this);
  }

  onTimerB(): void {
    this.timeoutTimer = undefined;
    if (this.state === 'calling') this.timedOut();
  }

  receive(response: SipResponse, _inbound: InboundMessage): void {
    const status = response.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (status < 200) {
          this.enterProceeding();
          this.lastResponse = response;
          this.handlers.onProvisional?.(response, this);
        } else if (status < 300) {
          this.enterAccepted();
          this.lastResponse = response;
          this.handlers.onFinal?.(response, this);
          this.settle();
        } else {
          this.enterCompleted(response);
          this.handlers.onFinal?.(response, this);
          if (this.reliable) this.terminate();
          else this.settle();
        }
        return;
      case 'accepted':
        if (status >= 200 && status < 300) this.handlers.onFinal?.(response, this);
        return;
      case 'completed':
        if (status >= 300) this.sendAck();
        return;
      default:
        return;
    }
  }

  private enterProceeding(): void {
    if (this.state === 'proceeding') return;
    this.state = 'proceeding';
    if (this.retransmitTimer) clearTimeout(this.retransmitTimer);
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.retransmitTimer = this.timeoutTimer = undefined;
  }

  private enterAccepted(): void {
    this.clearTimers();
    this.state = 'accepted';
    this.endEntry = this.context.endAfter(this, TIMEOUT_FACTOR * this.context.timers.T1); // Timer M
  }

  private enterCompleted(response: SipResponse): void {
    this.clearTimers();
    this.state = 'completed';
    this.lastResponse = response;
    this.ack = keepBytes(ackForNon2xx(this.request, response).toBuffer());
    this.sendAck();
    if (!this.reliable) this.context.endAfter(this, this.context.timers.timerD); // Timer D
  }

  private sendAck(): void {
    if (!this.ack) return;
    this.context.transport.sendBufferTo(
      keptBuffer(this.ack),
      this.destination,
      this.sendOptions(),
      this,
    );
  }
}
