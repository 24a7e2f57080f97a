// One captured frame as the readers hand it out, the error they report, and link type numbers.

/**
 * A captured frame. `data` is a view into the reader's chunk, which is reused for the next
 * chunk: a callback that keeps the bytes past its own return must copy them
 * (`Buffer.from(frame.data)`). The frame object itself is not reused and may be kept.
 */
export interface CaptureFrame {
  /** 1-based frame number, counted as Wireshark counts (across all pcapng sections). */
  index: number;
  /** Seconds since the epoch (µs precision; nanosecond captures are rounded to µs). */
  ts: number;
  /** LINKTYPE_* value of the interface the frame was captured on. */
  linkType: number;
  /** Captured bytes (a view: copy if kept). */
  data: Buffer;
  /** Length of the frame on the wire (may exceed `data.length` when a snap length cut it). */
  origLen: number;
  /** pcapng interface number, counted across sections (0 for pcap files). */
  interfaceId: number;
}

/** Where and why a capture file could not be read further. Everything before it was delivered. */
export class CaptureError extends Error {
  /** Byte offset in the file of the record (or header) that is broken. */
  readonly offset: number;
  /** Number of the last frame that was delivered whole (0 if none). */
  readonly frame: number;
  /** What is wrong, in a few words. */
  readonly reason: string;

  constructor(reason: string, offset: number, frame: number) {
    super(`capture broken at byte ${offset} after frame ${frame}: ${reason}`);
    this.name = 'CaptureError';
    this.offset = offset;
    this.frame = frame;
    this.reason = reason;
  }
}

/** LINKTYPE_* numbers (https://www.tcpdump.org/linktypes.html) the decoder understands. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW_OLD: 12,
  RAW_OPENBSD: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  NFLOG: 239,
  LINUX_SLL2: 276,
} as const;
