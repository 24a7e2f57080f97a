// The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, with RFC 6026's Accepted state).
//
//                               |INVITE
//                               |pass INV to TU
//            INVITE             V send 100 if TU won't in 200 ms
//            send response+-----------+
//                +--------|           |--------+ 101-199 from TU
//                |        |Proceeding |        | send response
//                +------->|           |<-------+
//                         |           |          Transport Err.
//                         |           |          Inform TU
//                         |           |--------------->+
//                         +-----------+                |
//            300-699 from TU |     |2xx from TU        |
//            send response   |     |send response      |
//                            |     +------------------>+
//                            |                         |
//            INVITE          V          Timer G fires  |
//            send response+-----------+ send response  |
//                +--------|           |--------+       |
//                |        | Completed |        |       |
//                +------->|           |<-------+       |
//                         +-----------+                |
//                            |     |                   |
//                        ACK |     |                   |
//                        -   |     +------------------>+
//                            |        Timer H fires    |
//                            V        or Transport Err.|
//                         +-----------+  Inform TU     |
//                         |           |                |
//                         | Confirmed |                |
//                         |           |                |
//                         +-----------+                |
//                               |                      |
//                               |Timer I fires         |
//                               V                      V
//                         +-----------+          +----------+  2xx from TU: send
//                         | Terminated|<---------| Accepted |  INVITE: absorb
//                         +-----------+ Timer L  +----------+  ACK: to TU
//
// (RFC 6026 §7.1: a 2xx moves Proceeding to Accepted instead of Terminated.)
import { createResponse } from '../sip/index.ts';
import type { SipRequest, SipResponse } from '../sip/index.ts';
import type { InboundMessage } from '../transport/index.ts';
import { ServerTransaction } from './server-transaction.ts';
import { startTimer, TIMEOUT_FACTOR } from './timers.ts';

const TRYING = 100;

function fireTrying(tx: InviteServerTransaction): void {
  tx.onTrying();
}
function fireG(tx: InviteServerTransaction): void {
  tx.onTimerG();
}
function fireH(tx: InviteServerTransaction): void {
  tx.onTimerH();
}

export class InviteServerTransaction extends ServerTransaction {
  constructor(
    context: ConstructorParameters<typeof ServerTransaction>[0],
    id: string,
    request: SipRequest,
    inbound: InboundMessage,
  ) {
    super(context, id, request, inbound, 'proceeding');
  }

  /** §17.2.1: 100 Trying unless the TU answers within 200 ms. */
  started(): void {
    if (this.state === 'proceeding' && !this.lastResponse) {
      this.timer = startTimer(fireTrying, this.context.timers.trying100, this);
    }
  }

  onTrying(): void {
    this.timer = undefined;
    if (this.state !== 'proceeding' || this.lastResponse) return;
    this.lastResponse = createResponse(this.request, TRYING);
    this.send(this.lastResponse);
  }

  respond(response: SipResponse): Buffer | undefined {
    const status = response.status;
    if (this.state === 'accepted') {
      // the TU's 2xx retransmission
      return status >= 200 && status < 300 ? this.send(response) : undefined;
    }
    if (this.state !== 'proceeding') return undefined;
    this.lastResponse = response;
    if (status < 200) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      return this.send(response);
    }
    this.clearTimers();
    if (status < 300) {
      this.state = 'accepted';
      const sent = this.send(response);
      // Accepted passes the TU's 2xx retransmissions and ACKs until Timer L.
      this.settle(TIMEOUT_FACTOR * this.context.timers.T1);
      return sent;
    }
    this.state = 'completed';
    if (!this.reliable) this.timer = startTimer(fireG, this.interval, this);
    this.timerH = startTimer(fireH, TIMEOUT_FACTOR * this.context.timers.T1, this);
    const sent = this.send(response);
    // Completed resends these bytes (Timer G, retransmitted INVITEs) and waits for the ACK: it
    // needs the parsed request or response no more (their bytes stay, parsed again if asked).
    this.shed();
    return sent;
  }

  onTimerG(): void {
    this.timer = undefined;
    if (this.state !== 'completed') return;
    this.resend();
    this.interval = Math.min(2 * this.interval, this.context.timers.T2);
    this.timer = startTimer(fireG, this.interval, this);
  }

  onTimerH(): void {
    this.timerH = undefined;
    if (this.state !== 'completed') return;
    this.context.stats.timeouts++;
    this.onTimeout?.(this);
    this.terminate();
  }

  receiveRetransmission(_request: SipRequest, _inbound: InboundMessage): void {
    this.context.stats.absorbed++;
    if (this.state === 'proceeding' || this.state === 'completed') this.resend();
  }

  /** An ACK matched to this transaction. */
  receiveAck(ack: SipRequest, inbound: InboundMessage): void {
    switch (this.state) {
      case 'completed':
        this.clearTimers();
        this.state = 'confirmed';
        if (this.reliable) this.terminate();
        else this.context.endAfter(this, this.context.timers.T4); // Timer I
        return;
      case 'accepted':
        this.context.ackToTU(ack, inbound);
        return;
      case 'confirmed':
        this.context.stats.absorbed++;
        return;
      default:
        return;
    }
  }
}
