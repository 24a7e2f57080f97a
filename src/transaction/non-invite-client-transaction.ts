// The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).
//
//                          |Request from TU
//                          |send request
//      Timer E             V
//      send request  +-----------+
//          +---------|           |-------------------+
//          |         |  Trying   |  Timer F          |
//          +-------->|           |  or Transport Err.|
//                    +-----------+  inform TU        |
//       200-699         |  |                         |
//       resp. to TU     |  |1xx                      |
//       +---------------+  |resp. to TU              |
//       |                  |                         |
//       |   Timer E        V       Timer F           |
//       |   send req +-----------+ or Transport Err. |
//       |  +---------|           | inform TU         |
//       |  |         |Proceeding |------------------>|
//       |  +-------->|           |-----+             |
//       |            +-----------+     |1xx          |
//       |              |      ^        |resp to TU   |
//       | 200-699      |      +--------+             |
//       | resp. to TU  |                             |
//       |              V                             |
//       |            +-----------+                   |
//       |            |           |                   |
//       |            | Completed |                   |
//       |            |           |                   |
//       |            +-----------+                   |
//       |              ^   |                         |
//       |              |   | Timer K                 |
//       +--------------+   | -                       |
//                          |                         |
//                          V                         |
//                    +-----------+                   |
//                    | Terminated|<------------------+
//                    +-----------+
import type { SipResponse } from '../sip/index.ts';
import type { InboundMessage } from '../transport/index.ts';
import { ClientTransaction } from './client-transaction.ts';
import { startTimer, TIMEOUT_FACTOR } from './timers.ts';

function fireE(tx: NonInviteClientTransaction): void {
  tx.onTimerE();
}
function fireF(tx: NonInviteClientTransaction): void {
  tx.onTimerF();
}

export class NonInviteClientTransaction extends ClientTransaction {
  start(): void {
    this.context.stats.clientCreated++;
    this.sendRequest();
    if (!this.reliable) this.retransmitTimer = startTimer(fireE, this.interval, this);
    this.timeoutTimer = startTimer(fireF, TIMEOUT_FACTOR * this.context.timers.T1, this);
  }

  onTimerE(): void {
    this.retransmitTimer = undefined;
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    this.context.stats.retransmissions++;
    this.sendRequest();
    const T2 = this.context.timers.T2;
    this.interval = this.state === 'trying' ? Math.min(2 * this.interval, T2) : T2;
    this.retransmitTimer = startTimer(fireE, this.interval, this);
  }

  onTimerF(): void {
    this.timeoutTimer = undefined;
    this.timedOut();
  }

  receive(response: SipResponse, _inbound: InboundMessage): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return; // Completed absorbs
    this.lastResponse = response;
    if (response.status < 200) {
      this.state = 'proceeding';
      this.handlers.onProvisional?.(response, this);
      return;
    }
    this.clearTimers();
    this.state = 'completed';
    if (this.reliable) {
      this.handlers.onFinal?.(response, this);
      this.terminate();
      return;
    }
    this.context.endAfter(this, this.context.timers.T4); // Timer K
    this.handlers.onFinal?.(response, this);
    this.settle(); // Timer K only absorbs retransmissions
  }
}
