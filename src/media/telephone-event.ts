// RFC 4733 telephone-event payload (DTMF digits and other named events carried in RTP).
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |     event     |E|R| volume    |          duration             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// event: 0-9 digits, 10 '*', 11 '#', 12-15 'A'-'D', 16 flash (RFC 4733 section 3.2).
// E: this packet ends the event. R: reserved. volume: power level in -dBm0 (0..63).
// duration: length of the event so far, in RTP timestamp units, from the event's timestamp.
//
// All packets of one event carry the same RTP timestamp (the event's start). The first has the
// marker bit; the final packet (E set) is usually sent three times (section 2.5.1.4).

export const TELEPHONE_EVENT_LENGTH = 4;

const EVENT_OFFSET = 0;
const FLAGS_OFFSET = 1;
const END_BIT = 0x80;
const RESERVED_BIT = 0x40;
const VOLUME_MASK = 0x3f;
const DURATION_OFFSET = 2;

export interface TelephoneEvent {
  /** Event code (0-255): 0-9, 10 = *, 11 = #, 12-15 = A-D, 16 = flash. */
  event: number;
  /** E bit: the event has ended. */
  end: boolean;
  /** Power level, in -dBm0 (0 = loudest, 63 = quietest). */
  volume: number;
  /** Duration so far, in RTP timestamp units. */
  duration: number;
}

const DIGITS = '0123456789*#ABCD';
/** Event code of a hook flash (RFC 4733 section 3.2). */
export const FLASH_EVENT = 16;

/** Reads a telephone-event payload; undefined when shorter than 4 octets. */
export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | undefined {
  if (payload.length < TELEPHONE_EVENT_LENGTH) return undefined;
  const flags = payload[FLAGS_OFFSET]!;
  return {
    event: payload[EVENT_OFFSET]!,
    end: (flags & END_BIT) !== 0,
    volume: flags & VOLUME_MASK,
    duration: (payload[DURATION_OFFSET]! << 8) | payload[DURATION_OFFSET + 1]!,
  };
}

/**
 * Whether a payload has the shape of a DTMF or flash event: exactly 4 octets, an event 0-16
 * (section 3.2) and the R bit clear. What a capture reader goes by for a dynamic payload type
 * no SDP names.
 */
export function looksLikeDtmfEvent(payload: Uint8Array): boolean {
  return (
    payload.length === TELEPHONE_EVENT_LENGTH &&
    payload[EVENT_OFFSET]! <= FLASH_EVENT &&
    (payload[FLAGS_OFFSET]! & RESERVED_BIT) === 0
  );
}

/** Writes a telephone-event payload (the R bit is sent as zero). */
export function buildTelephoneEvent(event: TelephoneEvent): Buffer {
  const out = Buffer.alloc(TELEPHONE_EVENT_LENGTH);
  writeTelephoneEvent(event, out, 0);
  return out;
}

/** Writes a telephone-event payload into buf at offset; returns the octets written (4). */
export function writeTelephoneEvent(
  event: TelephoneEvent,
  buf: Uint8Array,
  offset: number,
): number {
  if (event.event < 0 || event.event > 255)
    throw new RangeError(`event code ${event.event} out of 0..255`);
  if (event.volume < 0 || event.volume > VOLUME_MASK)
    throw new RangeError(`volume ${event.volume} out of 0..63`);
  if (event.duration < 0 || event.duration > 0xffff) {
    throw new RangeError(`duration ${event.duration} out of 0..65535`);
  }
  buf[offset + EVENT_OFFSET] = event.event;
  buf[offset + FLAGS_OFFSET] =
    (event.end ? END_BIT : 0) | (event.volume & VOLUME_MASK & ~RESERVED_BIT);
  buf[offset + DURATION_OFFSET] = event.duration >> 8;
  buf[offset + DURATION_OFFSET + 1] = event.duration & 0xff;
  return TELEPHONE_EVENT_LENGTH;
}

/** The DTMF character of an event code ('0'-'9', '*', '#', 'A'-'D'), or undefined (flash, ...). */
export function eventToDigit(event: number): string | undefined {
  return event >= 0 && event < DIGITS.length ? DIGITS[event] : undefined;
}

/** The event code of a DTMF character (case-insensitive), or undefined. */
export function digitToEvent(digit: string): number | undefined {
  const index = DIGITS.indexOf(digit.toUpperCase());
  return digit.length === 1 && index >= 0 ? index : undefined;
}

/** One event as the detector reports it, once. */
export interface DetectedEvent {
  event: number;
  /** The DTMF character, when the event is a DTMF digit. */
  digit?: string;
  /** RTP timestamp of the event's start. */
  timestamp: number;
  /** Final (or last known) duration in timestamp units. */
  duration: number;
  volume: number;
  /** False when the end packets never came (reported on a following event or on flush). */
  ended: boolean;
}

/** How many finished events to remember, to drop their late retransmissions. */
const REMEMBERED_EVENTS = 32;
/** A segment this long (timestamp units) may be followed by a continuation segment. */
const LONG_SEGMENT = 0x8000;
/** Slack allowed between a segment's end and the next segment's timestamp. */
const SEGMENT_SLACK = 800;

interface EventInProgress {
  detected: DetectedEvent;
  /** Timestamp of the current segment (the event's timestamp until it is split). */
  segmentTimestamp: number;
  /** Duration carried over from earlier segments. */
  carried: number;
  /** Largest duration seen in the current segment. */
  segmentDuration: number;
}

/**
 * Turns the telephone-event packets of one RTP stream into events, each reported exactly once:
 * retransmitted end packets, repeated updates and reordered packets of an event already reported
 * are ignored. An event is reported when its first end packet arrives; an event whose end
 * packets were all lost is reported when a packet of the next event arrives, or on flush().
 * Long events split into segments (RFC 4733 section 2.5.1.3: same event code, a new timestamp
 * right after a long segment, no marker) are merged into one.
 */
export class DtmfEventDetector {
  private current: EventInProgress | undefined;
  private readonly finished: number[] = [];

  /**
   * One telephone-event packet: its RTP timestamp, its payload, and its marker bit. Returns the
   * events this packet completes (none, one, or two when it also closes an unended one).
   */
  push(
    rtpTimestamp: number,
    payload: Uint8Array | TelephoneEvent,
    marker = false,
  ): DetectedEvent[] {
    const parsed = payload instanceof Uint8Array ? parseTelephoneEvent(payload) : payload;
    if (!parsed) return [];
    const timestamp = rtpTimestamp >>> 0;
    if (this.finished.includes(timestamp)) return [];

    const reported: DetectedEvent[] = [];
    const current = this.current;
    if (current && current.segmentTimestamp !== timestamp) {
      const gap = (timestamp - current.segmentTimestamp) >>> 0;
      const continues =
        !marker &&
        parsed.event === current.detected.event &&
        current.segmentDuration >= LONG_SEGMENT &&
        gap >= current.segmentDuration - SEGMENT_SLACK &&
        gap <= current.segmentDuration + SEGMENT_SLACK;
      if (continues) {
        this.remember(current.segmentTimestamp);
        current.carried += gap;
        current.segmentTimestamp = timestamp;
        current.segmentDuration = 0;
      } else {
        reported.push(this.close(current));
      }
    }
    if (!this.current) {
      const detected: DetectedEvent = {
        event: parsed.event,
        timestamp,
        duration: 0,
        volume: parsed.volume,
        ended: false,
      };
      const digit = eventToDigit(parsed.event);
      if (digit !== undefined) detected.digit = digit;
      this.current = { detected, segmentTimestamp: timestamp, carried: 0, segmentDuration: 0 };
    }
    const progress = this.current;
    progress.segmentDuration = Math.max(progress.segmentDuration, parsed.duration);
    progress.detected.duration = Math.max(
      progress.detected.duration,
      progress.carried + parsed.duration,
    );
    progress.detected.volume = parsed.volume;
    if (parsed.end) {
      progress.detected.ended = true;
      reported.push(this.close(progress));
    }
    return reported;
  }

  private close(progress: EventInProgress): DetectedEvent {
    this.remember(progress.segmentTimestamp);
    this.current = undefined;
    return { ...progress.detected };
  }

  private remember(timestamp: number): void {
    this.finished.push(timestamp);
    if (this.finished.length > REMEMBERED_EVENTS) this.finished.shift();
  }

  /** Reports an event still in progress (its end packets never came), if any. */
  flush(): DetectedEvent[] {
    return this.current ? [this.close(this.current)] : [];
  }
}
