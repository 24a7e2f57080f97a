// DTMF digits carried as RFC 4733 telephone-events in RTP streams: one DtmfEventDetector (media
// layer) per stream, which reports each event once whatever the retransmitted end packets and
// lost packets do.
import { DtmfEventDetector } from '../media/index.ts';
import type { DetectedEvent } from '../media/index.ts';
import type { RtpStream } from './rtp-tracker.ts';

export interface DtmfDigit {
  digit: string;
  /** Arrival of the packet that completed the event, seconds since the epoch. */
  ts: number;
}

export class StreamDtmf {
  private readonly byStream = new Map<
    RtpStream,
    { detector: DtmfEventDetector; digits: DtmfDigit[] }
  >();

  packet(
    stream: RtpStream,
    _pt: number,
    payload: Buffer,
    timestamp: number,
    arrival: number,
    marker = false,
  ): void {
    let state = this.byStream.get(stream);
    if (!state) {
      state = { detector: new DtmfEventDetector(), digits: [] };
      this.byStream.set(stream, state);
    }
    this.keep(state.digits, state.detector.push(timestamp, payload, marker), arrival);
  }

  /** Reports events whose end packets never came. */
  finish(): void {
    for (const [stream, state] of this.byStream) {
      this.keep(state.digits, state.detector.flush(), stream.end);
    }
  }

  /** Lets a stream's detector and digits go (its call was evicted). */
  forget(stream: RtpStream): void {
    this.byStream.delete(stream);
  }

  digits(stream: RtpStream): DtmfDigit[] {
    return this.byStream.get(stream)?.digits ?? [];
  }

  private keep(digits: DtmfDigit[], events: DetectedEvent[], ts: number): void {
    for (const e of events) if (e.digit !== undefined) digits.push({ digit: e.digit, ts });
  }
}
