// WebSocket framing (RFC 6455 §5) as seen in a capture, for SIP over WebSocket (RFC 7118).
import { inflateRawSync, constants as zlibConstants } from 'node:zlib';

/*
  0                   1                   2                   3
  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 +-+-+-+-+-------+-+-------------+-------------------------------+
 |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 | |1|2|3|       |K|             |                               |
 +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 |     Extended payload length continued, if payload len == 127  |
 + - - - - - - - - - - - - - - - +-------------------------------+
 |                               |Masking-key, if MASK set to 1  |
 +-------------------------------+-------------------------------+
 | Masking-key (continued)       |          Payload Data         |
 +-------------------------------- - - - - - - - - - - - - - - - +
*/
const FIN = 0x80;
const RSV1 = 0x40;
const OPCODE_MASK = 0x0f;
const MASK_BIT = 0x80;
const LEN7_MASK = 0x7f;
const LEN_16 = 126;
const LEN_64 = 127;
const MASK_KEY_BYTES = 4;
const OP_CONTINUATION = 0x0;
const OP_CONTROL_MIN = 0x8;
/** Frames larger than this are taken for garbage rather than buffered. */
const MAX_FRAME = 16 * 1024 * 1024;
/** permessage-deflate (RFC 7692 §7.2.2): the empty stored block the sender removed. */
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * Turns one direction's in-order bytes (after the HTTP upgrade) into message payloads:
 * unmasked, fragments joined, control frames (close, ping, pong) skipped. Messages compressed
 * with permessage-deflate are inflated when each stands alone (no context takeover); when that
 * fails the compressed bytes are returned as they are. Returned buffers are the deframer's own.
 */
export class WebSocketDeframer {
  private pending: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentCompressed = false;
  /** Set when a frame header is impossible; the rest of the stream is then ignored. */
  broken = false;

  push(data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (this.broken) return out;
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, data]) : data;
    let p = 0;
    for (;;) {
      if (buf.length - p < 2) break;
      const b0 = buf[p];
      const b1 = buf[p + 1];
      let len = b1 & LEN7_MASK;
      let h = 2;
      if (len === LEN_16) {
        if (buf.length - p < 4) break;
        len = buf.readUInt16BE(p + 2);
        h = 4;
      } else if (len === LEN_64) {
        if (buf.length - p < 10) break;
        const hi = buf.readUInt32BE(p + 2);
        len = hi * 0x100000000 + buf.readUInt32BE(p + 6);
        h = 10;
      }
      if (len > MAX_FRAME) {
        this.broken = true;
        break;
      }
      const masked = (b1 & MASK_BIT) !== 0;
      const keyAt = p + h;
      if (masked) h += MASK_KEY_BYTES;
      if (buf.length - p < h + len) break;
      const start = p + h;
      const payload: Buffer = Buffer.from(buf.subarray(start, start + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[keyAt + (i & 3)];
      p = start + len;
      const opcode = b0 & OPCODE_MASK;
      if (opcode >= OP_CONTROL_MIN) continue;
      if (opcode !== OP_CONTINUATION) {
        this.fragments = [];
        this.fragmentCompressed = (b0 & RSV1) !== 0;
      }
      this.fragments.push(payload);
      if (b0 & FIN) {
        const whole =
          this.fragments.length === 1 ? this.fragments[0] : Buffer.concat(this.fragments);
        this.fragments = [];
        out.push(this.fragmentCompressed ? inflateMessage(whole) : whole);
      }
    }
    this.pending = p < buf.length ? Buffer.from(buf.subarray(p)) : Buffer.alloc(0);
    return out;
  }
}

function inflateMessage(payload: Buffer): Buffer {
  try {
    return inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), {
      finishFlush: zlibConstants.Z_SYNC_FLUSH,
    });
  } catch {
    return payload;
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Index just past the blank line that ends an HTTP head (request or response), or -1. */
export function findHttpHeadEnd(buf: Buffer, from = 0): number {
  const i = buf.indexOf(CRLFCRLF, from);
  return i < 0 ? -1 : i + CRLFCRLF.length;
}

const UPGRADE_RE = /^upgrade[ \t]*:[ \t]*websocket[ \t]*$/im;

/**
 * True for the start of a WebSocket opening handshake: a 'GET ... HTTP/1.1' request with
 * 'Upgrade: websocket', or an 'HTTP/1.1 101' response.
 */
export function isWebSocketUpgrade(firstBytes: Buffer): boolean {
  const end = findHttpHeadEnd(firstBytes);
  const head = firstBytes.toString('latin1', 0, end < 0 ? Math.min(firstBytes.length, 4096) : end);
  if (/^HTTP\/1\.[01] 101[ \r]/.test(head)) return true;
  if (!/^GET [^ ]+ HTTP\/1\.[01]\r?\n/.test(head)) return false;
  return UPGRADE_RE.test(head);
}
