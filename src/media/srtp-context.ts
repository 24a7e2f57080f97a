// SRTP and SRTCP (RFC 3711) for the crypto suites AES_CM_128_HMAC_SHA1_80 and
// AES_CM_128_HMAC_SHA1_32 (RFC 4568 section 6.2): AES-128 counter mode for confidentiality,
// HMAC-SHA1 truncated to 80 or 32 bits for authentication (SRTCP always uses 80 bits), key
// derivation rate 0, optional MKI.
//
// SRTP packet (RFC 3711 section 3.1):
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+<+
//  |V=2|P|X|  CC   |M|     PT      |       sequence number         | |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
//  |                           timestamp                           | |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
//  |           synchronization source (SSRC) identifier            | |
//  +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+ |
//  |            contributing source (CSRC) identifiers             | |
//  |                               ....                            | |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
//  |                   RTP extension (OPTIONAL)                    | |
//+>+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
//| |                          payload  ...                         | |
//| |                               +-------------------------------+ |
//| |                               | RTP padding   | RTP pad count | |
//+>+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+<+
//| ~                     SRTP MKI (OPTIONAL)                       ~ |
//| +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
//| :                 authentication tag (RECOMMENDED)              : |
//| +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
//|                                                                   |
//+- Encrypted Portion                       Authenticated Portion ---+
//
// The tag is HMAC-SHA1(k_a, authenticated portion || ROC) truncated (section 4.2). The packet
// index is i = 2^16 * ROC + SEQ; the receiver estimates ROC from its highest index with the
// rule of section 3.3.1, and only after the packet has been authenticated moves its state on.
//
// SRTCP packet (RFC 3711 section 3.4):
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+<+
//  |V=2|P|    RC   |   PT=SR or RR   |             length          | |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
//  |                         SSRC of sender                        | |
//+>+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
//| ~                          sender info                          ~ |
//| ~             report blocks, further compound packets           ~ |
//+>+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
//| |E|                         SRTCP index                         | |
//| +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+<+
//| ~                     SRTCP MKI (OPTIONAL)                      ~ |
//| +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
//| :                     authentication tag                        : |
//| +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |
//+-- Encrypted Portion                    Authenticated Portion -----+
//
// E says whether the packet is encrypted; the 31-bit SRTCP index counts the sender's SRTCP
// packets from 0, per SSRC, and is both the cipher's packet index and the replay index.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { isRtpVersion2At, rtpHeaderLengthAt, rtpSequenceAt, rtpSsrcAt } from './rtp-header.ts';
import {
  AES_BLOCK_LENGTH,
  AesCounterMode,
  SRTP_MASTER_KEY_LENGTH,
  SRTP_MASTER_SALT_LENGTH,
  deriveSrtpSessionKeys,
  srtpCounterBlock,
} from './srtp-key-derivation.ts';
import { DEFAULT_REPLAY_WINDOW, SrtpReplayWindow } from './srtp-replay-window.ts';

/** The SDES names (RFC 4568 section 6.2) of the suites this context implements. */
export type SrtpSuite = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32';
export const SRTP_SUITES: readonly SrtpSuite[] = [
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
];

/** Why unprotect dropped a packet. */
export type SrtpDrop = 'auth' | 'replay' | 'too-old' | 'malformed';

export function isSrtpDrop(result: Buffer | SrtpDrop): result is SrtpDrop {
  return typeof result === 'string';
}

/** SRTP authentication tag length of each suite, in octets. */
export const SRTP_TAG_LENGTH: Readonly<Record<SrtpSuite, number>> = {
  AES_CM_128_HMAC_SHA1_80: 10,
  AES_CM_128_HMAC_SHA1_32: 4,
};
/** SRTCP's tag is 80 bits whatever the suite (RFC 4568 section 6.2.2, RFC 3711 section 5.2). */
export const SRTCP_TAG_LENGTH = 10;

export interface SrtpContextOptions {
  suite: SrtpSuite;
  /** 16 octets. */
  masterKey: Uint8Array;
  /** 14 octets. */
  masterSalt: Uint8Array;
  /** Replay window in packets, per SSRC (default 128, at least 64). */
  replayWindow?: number;
  /** Master key identifier carried in every packet (RFC 3711 section 3.1), when one is in use. */
  mki?: Uint8Array;
}

export interface SrtpStats {
  protected: number;
  unprotected: number;
  authFailures: number;
  replayed: number;
  tooOld: number;
  malformed: number;
}

function emptyStats(): SrtpStats {
  return { protected: 0, unprotected: 0, authFailures: 0, replayed: 0, tooOld: 0, malformed: 0 };
}

// The RTP header is read by rtp-header.ts (its diagram is there).
const ROC_LENGTH = 4;

// RTCP: the first 8 octets (header and sender SSRC) are sent in the clear.
const RTCP_CLEAR_LENGTH = 8;
const RTCP_SSRC_OFFSET = 4;
const SRTCP_INDEX_LENGTH = 4;
const SRTCP_E_BIT = 0x8000_0000;
const SRTCP_INDEX_MASK = 0x7fff_ffff;
const SRTCP_INDEX_SPACE = 0x8000_0000;

const SEQUENCE_SPACE = 0x1_0000;
const HALF_SEQUENCE_SPACE = 0x8000;

/**
 * RFC 3711 section 3.3.1: the packet index of a packet with sequence number `seq`, given the
 * highest index seen so far (ROC and s_l in the RFC's terms). The guessed ROC is v = ROC - 1 when
 * seq is far behind s_l across a wrap, ROC + 1 when it is far ahead, else ROC; a guess below
 * zero is impossible and becomes 0. Before any packet the index is the sequence number (ROC 0).
 */
export function estimatePacketIndex(seq: number, highest: number | undefined): number {
  if (highest === undefined) return seq;
  const roc = Math.floor(highest / SEQUENCE_SPACE);
  const last = highest - roc * SEQUENCE_SPACE;
  let v = roc;
  if (last < HALF_SEQUENCE_SPACE) {
    if (seq - last > HALF_SEQUENCE_SPACE) v = roc - 1;
  } else if (last - HALF_SEQUENCE_SPACE > seq) {
    v = roc + 1;
  }
  if (v < 0) v = 0;
  return v * SEQUENCE_SPACE + seq;
}

/** What one direction of one session key set needs: cipher, salt, authentication key. */
interface Keys {
  cipher: AesCounterMode;
  salt: Buffer;
  authKey: Buffer;
}

/**
 * One SRTP cryptographic context (RFC 3711 section 3.2) for one master key: protects outgoing
 * and unprotects incoming RTP and RTCP, keeping per SSRC the rollover counter, highest index and
 * replay window (one table for what we send, one for what we receive).
 */
export class SrtpContext {
  readonly suite: SrtpSuite;
  readonly tagLength: number;
  /** SRTP counters. */
  readonly stats: SrtpStats = emptyStats();
  /** SRTCP counters. */
  readonly rtcpStats: SrtpStats = emptyStats();

  readonly #rtp: Keys;
  readonly #rtcp: Keys;
  readonly #mki: Buffer;
  readonly #windowSize: number;
  readonly #iv = Buffer.alloc(AES_BLOCK_LENGTH);
  readonly #roc = Buffer.alloc(ROC_LENGTH);
  /** Highest packet index sent, per SSRC. */
  readonly #sent = new Map<number, number>();
  /** Next SRTCP index to send, per SSRC. */
  readonly #sentRtcp = new Map<number, number>();
  readonly #received = new Map<number, SrtpReplayWindow>();
  readonly #receivedRtcp = new Map<number, SrtpReplayWindow>();

  constructor(options: SrtpContextOptions) {
    const { suite, masterKey, masterSalt } = options;
    if (!SRTP_SUITES.includes(suite)) {
      throw new RangeError(`unsupported SRTP crypto suite ${String(suite)}`);
    }
    if (masterKey.length !== SRTP_MASTER_KEY_LENGTH) {
      throw new RangeError(
        `${suite} needs a ${SRTP_MASTER_KEY_LENGTH}-octet master key, got ${masterKey.length}`,
      );
    }
    if (masterSalt.length !== SRTP_MASTER_SALT_LENGTH) {
      throw new RangeError(
        `${suite} needs a ${SRTP_MASTER_SALT_LENGTH}-octet master salt, got ${masterSalt.length}`,
      );
    }
    this.suite = suite;
    this.tagLength = SRTP_TAG_LENGTH[suite];
    this.#windowSize = options.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    new SrtpReplayWindow(this.#windowSize); // validates the size before any packet arrives
    this.#mki = Buffer.from(options.mki ?? []);
    const keys = deriveSrtpSessionKeys(masterKey, masterSalt);
    this.#rtp = {
      cipher: new AesCounterMode(keys.rtpEncryptionKey),
      salt: keys.rtpSalt,
      authKey: keys.rtpAuthenticationKey,
    };
    this.#rtcp = {
      cipher: new AesCounterMode(keys.rtcpEncryptionKey),
      salt: keys.rtcpSalt,
      authKey: keys.rtcpAuthenticationKey,
    };
  }

  /**
   * Encrypts and authenticates one RTP packet. Throws when `rtp` is not an RTP packet (that is
   * the caller's bug, not the network's).
   */
  protect(rtp: Buffer): Buffer {
    const headerLength = rtpHeaderLengthAt(rtp);
    if (headerLength < 0) throw new RangeError('SRTP protect: not an RTP packet');
    const ssrc = rtpSsrcAt(rtp);
    const seq = rtpSequenceAt(rtp);
    const highest = this.#sent.get(ssrc);
    const index = estimatePacketIndex(seq, highest);
    if (highest === undefined || index > highest) this.#sent.set(ssrc, index);

    const tagLength = this.tagLength;
    const mki = this.#mki;
    const out = Buffer.allocUnsafe(rtp.length + mki.length + tagLength);
    rtp.copy(out, 0, 0, headerLength);
    const iv = srtpCounterBlock(this.#rtp.salt, ssrc, index, this.#iv);
    this.#rtp.cipher.xor(iv, rtp.subarray(headerLength), out, headerLength);
    mki.copy(out, rtp.length);
    const tag = this.#rtpTag(out.subarray(0, rtp.length), Math.floor(index / SEQUENCE_SPACE));
    tag.copy(out, rtp.length + mki.length, 0, tagLength);
    this.stats.protected++;
    return out;
  }

  /**
   * Authenticates and decrypts one SRTP packet: the RTP packet, or why it was dropped. Replays
   * and packets older than the replay window are recognised only after they authenticate.
   */
  unprotect(srtp: Buffer): Buffer | SrtpDrop {
    const stats = this.stats;
    const mki = this.#mki;
    const authenticatedLength = srtp.length - this.tagLength - mki.length;
    const headerLength = rtpHeaderLengthAt(srtp, 0, authenticatedLength);
    if (headerLength < 0) {
      stats.malformed++;
      return 'malformed';
    }
    const ssrc = rtpSsrcAt(srtp);
    const seq = rtpSequenceAt(srtp);
    const window = this.#received.get(ssrc);
    const index = estimatePacketIndex(seq, window?.highest);

    const authenticated = srtp.subarray(0, authenticatedLength);
    const expected = this.#rtpTag(authenticated, Math.floor(index / SEQUENCE_SPACE));
    const tagOk =
      (mki.length === 0 ||
        mki.equals(srtp.subarray(authenticatedLength, authenticatedLength + mki.length))) &&
      timingSafeEqual(
        expected.subarray(0, this.tagLength),
        srtp.subarray(srtp.length - this.tagLength),
      );
    if (!tagOk) {
      stats.authFailures++;
      return 'auth';
    }
    const replay = window?.check(index) ?? 'new';
    if (replay !== 'new') {
      if (replay === 'replay') stats.replayed++;
      else stats.tooOld++;
      return replay;
    }

    const out = Buffer.allocUnsafe(authenticatedLength);
    srtp.copy(out, 0, 0, headerLength);
    const iv = srtpCounterBlock(this.#rtp.salt, ssrc, index, this.#iv);
    this.#rtp.cipher.xor(iv, srtp.subarray(headerLength, authenticatedLength), out, headerLength);
    this.#windowFor(this.#received, ssrc, window).accept(index);
    stats.unprotected++;
    return out;
  }

  /** Encrypts and authenticates one (compound) RTCP packet. Throws when it is not RTCP. */
  protectRtcp(rtcp: Buffer): Buffer {
    if (rtcp.length < RTCP_CLEAR_LENGTH || !isRtpVersion2At(rtcp)) {
      throw new RangeError('SRTCP protect: not an RTCP packet');
    }
    const ssrc = rtcp.readUInt32BE(RTCP_SSRC_OFFSET);
    const index = this.#sentRtcp.get(ssrc) ?? 0;
    this.#sentRtcp.set(ssrc, (index + 1) % SRTCP_INDEX_SPACE);

    const mki = this.#mki;
    const indexEnd = rtcp.length + SRTCP_INDEX_LENGTH;
    const out = Buffer.allocUnsafe(indexEnd + mki.length + SRTCP_TAG_LENGTH);
    rtcp.copy(out, 0, 0, RTCP_CLEAR_LENGTH);
    const iv = srtpCounterBlock(this.#rtcp.salt, ssrc, index, this.#iv);
    this.#rtcp.cipher.xor(iv, rtcp.subarray(RTCP_CLEAR_LENGTH), out, RTCP_CLEAR_LENGTH);
    out.writeUInt32BE((SRTCP_E_BIT | index) >>> 0, rtcp.length);
    mki.copy(out, indexEnd);
    const tag = createHmac('sha1', this.#rtcp.authKey).update(out.subarray(0, indexEnd)).digest();
    tag.copy(out, indexEnd + mki.length, 0, SRTCP_TAG_LENGTH);
    this.rtcpStats.protected++;
    return out;
  }

  /** Authenticates and (when E is set) decrypts one SRTCP packet, or says why it was dropped. */
  unprotectRtcp(srtcp: Buffer): Buffer | SrtpDrop {
    const stats = this.rtcpStats;
    const mki = this.#mki;
    const indexEnd = srtcp.length - SRTCP_TAG_LENGTH - mki.length;
    const rtcpLength = indexEnd - SRTCP_INDEX_LENGTH;
    if (rtcpLength < RTCP_CLEAR_LENGTH || !isRtpVersion2At(srtcp)) {
      stats.malformed++;
      return 'malformed';
    }
    const expected = createHmac('sha1', this.#rtcp.authKey)
      .update(srtcp.subarray(0, indexEnd))
      .digest();
    const tagOk =
      (mki.length === 0 || mki.equals(srtcp.subarray(indexEnd, indexEnd + mki.length))) &&
      timingSafeEqual(
        expected.subarray(0, SRTCP_TAG_LENGTH),
        srtcp.subarray(srtcp.length - SRTCP_TAG_LENGTH),
      );
    if (!tagOk) {
      stats.authFailures++;
      return 'auth';
    }
    const word = srtcp.readUInt32BE(rtcpLength);
    const encrypted = (word & SRTCP_E_BIT) !== 0;
    const index = word & SRTCP_INDEX_MASK;
    const ssrc = srtcp.readUInt32BE(RTCP_SSRC_OFFSET);
    const window = this.#receivedRtcp.get(ssrc);
    const replay = window?.check(index) ?? 'new';
    if (replay !== 'new') {
      if (replay === 'replay') stats.replayed++;
      else stats.tooOld++;
      return replay;
    }

    const out = Buffer.allocUnsafe(rtcpLength);
    if (encrypted) {
      srtcp.copy(out, 0, 0, RTCP_CLEAR_LENGTH);
      const iv = srtpCounterBlock(this.#rtcp.salt, ssrc, index, this.#iv);
      this.#rtcp.cipher.xor(
        iv,
        srtcp.subarray(RTCP_CLEAR_LENGTH, rtcpLength),
        out,
        RTCP_CLEAR_LENGTH,
      );
    } else {
      srtcp.copy(out, 0, 0, rtcpLength);
    }
    this.#windowFor(this.#receivedRtcp, ssrc, window).accept(index);
    stats.unprotected++;
    return out;
  }

  /** The rollover counter of a received SSRC's stream (undefined before its first packet). */
  receivedRolloverCounter(ssrc: number): number | undefined {
    const highest = this.#received.get(ssrc)?.highest;
    return highest === undefined ? undefined : Math.floor(highest / SEQUENCE_SPACE);
  }

  /** The rollover counter used for a sent SSRC's latest packet. */
  sentRolloverCounter(ssrc: number): number | undefined {
    const highest = this.#sent.get(ssrc);
    return highest === undefined ? undefined : Math.floor(highest / SEQUENCE_SPACE);
  }

  #rtpTag(authenticated: Buffer, roc: number): Buffer {
    this.#roc.writeUInt32BE(roc >>> 0, 0);
    return createHmac('sha1', this.#rtp.authKey).update(authenticated).update(this.#roc).digest();
  }

  #windowFor(
    table: Map<number, SrtpReplayWindow>,
    ssrc: number,
    window: SrtpReplayWindow | undefined,
  ): SrtpReplayWindow {
    if (window) return window;
    const created = new SrtpReplayWindow(this.#windowSize);
    table.set(ssrc, created);
    return created;
  }
}
