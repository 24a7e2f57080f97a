// SIP counters over a whole capture, as `tshark -z sip,stat` shows them: requests by method,
// responses by class and by code, plus how many of them were retransmissions.
import type { SipStats } from '../render/model.ts';

export interface SipStatistics extends SipStats {
  /** Every SIP message seen (requests + responses), retransmissions included. */
  messages: number;
  requests: number;
  responses: number;
  /** Messages that repeat an earlier message of the same call (same hop, transaction and line). */
  retransmissions: number;
  /** SIP-looking payloads that could not be read at all (not even tolerantly). */
  parseErrors: number;
  /**
   * Messages the strict parser refused that the tolerant reading kept: they are counted above
   * (requests, responses, by method and code) and filed in their calls.
   */
  malformed: number;
}

type ResponseClass = keyof SipStats['byClass'];
const CLASSES: readonly ResponseClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx', '6xx'];

export class SipStatisticsCounter {
  readonly byMethod: Record<string, number> = {};
  readonly byClass: Record<ResponseClass, number> = {
    '1xx': 0,
    '2xx': 0,
    '3xx': 0,
    '4xx': 0,
    '5xx': 0,
    '6xx': 0,
  };
  readonly byCode: Record<string, number> = {};
  requests = 0;
  responses = 0;
  retransmissions = 0;
  parseErrors = 0;
  malformed = 0;

  countRequest(method: string, retransmission: boolean): void {
    this.requests++;
    this.byMethod[method] = (this.byMethod[method] ?? 0) + 1;
    if (retransmission) this.retransmissions++;
  }

  countResponse(status: number, retransmission: boolean): void {
    this.responses++;
    const cls = CLASSES[Math.floor(status / 100) - 1];
    if (cls) this.byClass[cls]++;
    const code = String(status);
    this.byCode[code] = (this.byCode[code] ?? 0) + 1;
    if (retransmission) this.retransmissions++;
  }

  snapshot(): SipStatistics {
    return {
      byMethod: { ...this.byMethod },
      byClass: { ...this.byClass },
      byCode: { ...this.byCode },
      messages: this.requests + this.responses,
      requests: this.requests,
      responses: this.responses,
      retransmissions: this.retransmissions,
      parseErrors: this.parseErrors,
      malformed: this.malformed,
    };
  }
}
