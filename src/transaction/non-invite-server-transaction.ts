// The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).
//
//                          |Request received
//                          |pass to TU
//                          V
//                    +-----------+
//                    |           |
//                    | Trying    |-------------+
//                    |           |             |
//                    +-----------+             |200-699 from TU
//                          |                   |send response
//                          |1xx from TU        |
//                          |send response      |
//                          |                   |
//       Request            V      1xx from TU  |
//       send response+-----------+send response|
//           +--------|           |--------+    |
//           |        | Proceeding|        |    |
//           +------->|           |<-------+    |
//    +<--------------|           |             |
//    |Trnsprt Err    +-----------+             |
//    |Inform TU            |                   |
//    |                     |                   |
//    |                     |200-699 from TU    |
//    |                     |send response      |
//    |  Request            V                   |
//    |  send response+-----------+             |
//    |      +--------|           |             |
//    |      |        | Completed |<------------+
//    |      +------->|           |
//    +<--------------|           |
//    |Trnsprt Err    +-----------+
//    |Inform TU            |
//    |                     |Timer J fires
//    |                     |-
//    |                     |
//    |                     V
//    |               +-----------+
//    +-------------->|           |
//                    | Terminated|
//                    |           |
//                    +-----------+
//
// The RFC gives Trying and Proceeding no timer: a TU that never answers would leave the
// transaction forever. As a safeguard it ends after 64*T1 without a final response.
import type { SipRequest, SipResponse } from '../sip/index.ts';
import type { InboundMessage } from '../transport/index.ts';
import { ServerTransaction } from './server-transaction.ts';
import { startTimer, TIMEOUT_FACTOR } from './timers.ts';

function fireEnd(tx: NonInviteServerTransaction): void {
  tx.terminate();
}

export class NonInviteServerTransaction extends ServerTransaction {
  constructor(
    context: ConstructorParameters<typeof ServerTransaction>[0],
    id: string,
    request: SipRequest,
    inbound: InboundMessage,
  ) {
    super(context, id, request, inbound, 'trying');
  }

  started(): void {
    if (this.state === 'trying' || this.state === 'proceeding') {
      this.timer = startTimer(fireEnd, TIMEOUT_FACTOR * this.context.timers.T1, this);
    }
  }

  respond(response: SipResponse): Buffer | undefined {
    if (this.state !== 'trying' && this.state !== 'proceeding') return undefined;
    this.lastResponse = response;
    if (response.status < 200) {
      this.state = 'proceeding';
      return this.send(response);
    }
    this.clearTimers();
    this.state = 'completed';
    const sent = this.send(response);
    if (this.reliable) {
      this.terminate();
      return sent;
    }
    // Timer J only absorbs retransmissions: the bytes of the response are enough.
    this.settle(TIMEOUT_FACTOR * this.context.timers.T1);
    return sent;
  }

  receiveRetransmission(_request: SipRequest, _inbound: InboundMessage): void {
    this.context.stats.absorbed++;
    if (this.state === 'proceeding' || this.state === 'completed') this.resend();
  }
}
