// The sending side of RFC 4733 DTMF: turns a string of digits into the telephone-event packets
// to send, one decision per packet interval. It holds no timer: the media loop calls tick() once
// per packet time with the RTP timestamp the next audio packet would carry, and sends either the
// event packet it returns or, when it returns undefined, audio as usual.
//
// Per digit (RFC 4733 section 2.5.1):
//   - the first packet has the marker bit and the event's start timestamp; every update of the
//     same event keeps that timestamp and carries the duration so far (section 2.5.1.2);
//   - when the tone has lasted `durationMs`, the final packet (E bit) is sent three times, on
//     three consecutive intervals, with the same duration (section 2.5.1.4);
//   - then `gapMs` of audio before the next digit.
// Audio is not sent while an event is (the event replaces the audio of its interval).

import { digitToEvent, buildTelephoneEvent } from './telephone-event.ts';

export interface TelephoneEventSenderOptions {
  /** Samples per packet interval (160 for 20 ms at 8000 Hz). */
  samplesPerPacket: number;
  /** RTP clock rate of the event payload type (default 8000). */
  clockRate?: number;
  /** How long each tone lasts (default 100 ms). */
  durationMs?: number;
  /** Audio between two digits (default 100 ms). */
  gapMs?: number;
  /** Power level in -dBm0 (default 10). */
  volume?: number;
}

/** One telephone-event packet to send. */
export interface TelephoneEventPacket {
  /** RTP timestamp: the event's start. */
  timestamp: number;
  marker: boolean;
  payload: Buffer;
  /** The DTMF character this packet belongs to. */
  digit: string;
  /** True for the first of the final (E bit) packets. */
  ended: boolean;
}

const END_REPEATS = 3;
const MAX_DURATION = 0xffff;

interface Current {
  digit: string;
  event: number;
  timestamp: number;
  duration: number;
  endsSent: number;
}

export class TelephoneEventSender {
  private readonly samplesPerPacket: number;
  private readonly durationSamples: number;
  private readonly gapPackets: number;
  private readonly volume: number;
  private readonly queue: string[] = [];
  private current: Current | undefined;
  private gapLeft = 0;

  constructor(options: TelephoneEventSenderOptions) {
    const rate = options.clockRate ?? 8000;
    this.samplesPerPacket = options.samplesPerPacket;
    this.durationSamples = Math.min(
      MAX_DURATION,
      Math.max(this.samplesPerPacket, Math.round(((options.durationMs ?? 100) * rate) / 1000)),
    );
    this.gapPackets = Math.ceil(
      ((options.gapMs ?? 100) * rate) / 1000 / Math.max(1, this.samplesPerPacket),
    );
    this.volume = options.volume ?? 10;
  }

  /** Queues digits (0-9, *, #, A-D); throws a RangeError naming the first one that is not. */
  send(digits: string): void {
    for (const d of digits) {
      if (digitToEvent(d) === undefined) {
        throw new RangeError(`"${d}" is not a DTMF digit (0-9, *, #, A-D)`);
      }
    }
    for (const d of digits) this.queue.push(d.toUpperCase());
  }

  /** Whether digits are queued or an event is being sent. */
  get busy(): boolean {
    return this.current !== undefined || this.queue.length > 0;
  }

  /** The event packet for this interval, or undefined to send audio. */
  tick(audioTimestamp: number): TelephoneEventPacket | undefined {
    if (!this.current) {
      if (this.gapLeft > 0) {
        this.gapLeft--;
        return undefined;
      }
      const digit = this.queue.shift();
      if (digit === undefined) return undefined;
      this.current = {
        digit,
        event: digitToEvent(digit)!,
        timestamp: audioTimestamp >>> 0,
        duration: this.samplesPerPacket,
        endsSent: 0,
      };
      return this.packet(true, false);
    }
    const c = this.current;
    if (c.duration < this.durationSamples) {
      c.duration = Math.min(this.durationSamples, c.duration + this.samplesPerPacket);
      if (c.duration < this.durationSamples) return this.packet(false, false);
    }
    c.endsSent++;
    const packet = this.packet(false, true);
    if (c.endsSent >= END_REPEATS) {
      this.current = undefined;
      this.gapLeft = this.gapPackets;
    }
    return packet;
  }

  private packet(marker: boolean, end: boolean): TelephoneEventPacket {
    const c = this.current!;
    return {
      timestamp: c.timestamp,
      marker,
      digit: c.digit,
      ended: end && c.endsSent === 1,
      payload: buildTelephoneEvent({
        event: c.event,
        end,
        volume: this.volume,
        duration: c.duration,
      }),
    };
  }
}
