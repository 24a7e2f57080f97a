// SRTP key derivation (RFC 3711 section 4.3) and the AES counter mode it is built on (4.1.1).
//
// AES-CM keystream (4.1.1): block j of the keystream is AES(k_e, IV + j), where the 128-bit IV
// for a packet is
//
//   IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)
//
//   octet:  0       4       8              14  16
//           +-------+-------+---------------+---+
//   salt    |          k_s (112 bits)       | 0 |
//   SSRC    |   0   | SSRC  |       0           |
//   index   |   0   |   0   |  i (48 bits)  | 0 |
//           +-------+-------+---------------+---+
//
// and the plaintext is XORed with the keystream. Node creates a fresh CTR cipher for every IV,
// so this file keeps one AES-ECB cipher object per key for the whole session and encrypts the
// counter blocks itself: ECB over whole blocks carries no state from one call to the next.
//
// Key derivation (4.3.1, 4.3.3) with key derivation rate 0: for each label,
//
//   x = label || (index DIV kdr) XORed into the low 7 octets of the 14-octet master salt
//   (index DIV kdr is 0 here, so x = master_salt XOR (label << 48))
//   session key = first n octets of AES-CM(master_key, IV = x * 2^16)
//
// Labels: 0x00 SRTP encryption, 0x01 SRTP authentication, 0x02 SRTP salt, 0x03 SRTCP
// encryption, 0x04 SRTCP authentication, 0x05 SRTCP salt.

import { createCipheriv, type Cipher } from 'node:crypto';

export const AES_BLOCK_LENGTH = 16;
/** AES-128 master and session encryption keys (RFC 3711 section 8.2). */
export const SRTP_MASTER_KEY_LENGTH = 16;
/** Master and session salts of the AES_CM_128 suites: 112 bits. */
export const SRTP_MASTER_SALT_LENGTH = 14;
/** HMAC-SHA1 session authentication key: 160 bits (RFC 3711 section 4.2.1, n_a = 160). */
export const SRTP_AUTH_KEY_LENGTH = 20;

/** Key derivation labels (RFC 3711 section 4.3.2). */
export const SRTP_LABEL = {
  rtpEncryption: 0x00,
  rtpAuthentication: 0x01,
  rtpSalt: 0x02,
  rtcpEncryption: 0x03,
  rtcpAuthentication: 0x04,
  rtcpSalt: 0x05,
} as const;

/** The octet of the 14-octet PRF input that the label is XORed into (label is octet 7). */
const LABEL_OFFSET = 7;
/** In a counter block: the SSRC occupies octets 4..7, the 48-bit index octets 8..13. */
const IV_SSRC_OFFSET = 4;
const IV_INDEX_HIGH_OFFSET = 8;
const IV_INDEX_LOW_OFFSET = 10;
/** The low 32 bits of a counter block, where the block counter j is added. */
const COUNTER_LOW_OFFSET = 12;
const TWO_POW_32 = 0x1_0000_0000;

/**
 * AES-128 in counter mode with one reusable cipher object: xor() encrypts or decrypts (the same
 * operation) any length from a given 16-octet initial counter block.
 */
export class AesCounterMode {
  readonly #ecb: Cipher;
  #counters: Buffer = Buffer.alloc(0);

  constructor(key: Uint8Array) {
    if (key.length !== SRTP_MASTER_KEY_LENGTH) {
      throw new RangeError(
        `AES-128 key must be ${SRTP_MASTER_KEY_LENGTH} octets, got ${key.length}`,
      );
    }
    this.#ecb = createCipheriv('aes-128-ecb', key, null);
    this.#ecb.setAutoPadding(false);
  }

  /** The keystream for `length` octets starting at counter block `iv`. */
  keystream(iv: Uint8Array, length: number): Buffer {
    const blocks = Math.ceil(length / AES_BLOCK_LENGTH);
    const bytes = blocks * AES_BLOCK_LENGTH;
    if (this.#counters.length < bytes) this.#counters = Buffer.alloc(Math.max(bytes, 2048));
    const counters = this.#counters;
    const ivView = Buffer.from(iv.buffer, iv.byteOffset, AES_BLOCK_LENGTH);
    const low = ivView.readUInt32BE(COUNTER_LOW_OFFSET);
    for (let j = 0; j < blocks; j++) {
      const at = j * AES_BLOCK_LENGTH;
      ivView.copy(counters, at, 0, AES_BLOCK_LENGTH);
      const sum = low + j;
      counters.writeUInt32BE(sum % TWO_POW_32, at + COUNTER_LOW_OFFSET);
      if (sum >= TWO_POW_32) carryInto(counters, at + COUNTER_LOW_OFFSET - 1, at);
    }
    const out = this.#ecb.update(counters.subarray(0, bytes));
    return out.length === length ? out : out.subarray(0, length);
  }

  /**
   * Writes input XOR keystream(iv) to output at outputOffset (output may be input itself).
   * Returns output.
   */
  xor<T extends Uint8Array>(iv: Uint8Array, input: Uint8Array, output: T, outputOffset = 0): T {
    const stream = this.keystream(iv, input.length);
    for (let k = 0; k < input.length; k++) output[outputOffset + k] = input[k]! ^ stream[k]!;
    return output;
  }
}

/** Adds one to the big-endian number in octets [first, last] (last is the least significant). */
function carryInto(buf: Buffer, last: number, first: number): void {
  for (let at = last; at >= first; at--) {
    buf[at] = (buf[at]! + 1) & 0xff;
    if (buf[at] !== 0) return;
  }
}

/**
 * The 16-octet initial counter block for one packet (RFC 3711 section 4.1.1):
 * (salt * 2^16) XOR (ssrc * 2^64) XOR (index * 2^16). index is the 48-bit SRTP packet index or
 * the 31-bit SRTCP index. Written into `out` (allocated when absent).
 */
export function srtpCounterBlock(
  sessionSalt: Uint8Array,
  ssrc: number,
  index: number,
  out: Buffer = Buffer.alloc(AES_BLOCK_LENGTH),
): Buffer {
  out.fill(0);
  out.set(sessionSalt.subarray(0, SRTP_MASTER_SALT_LENGTH), 0);
  out.writeUInt32BE((out.readUInt32BE(IV_SSRC_OFFSET) ^ ssrc) >>> 0, IV_SSRC_OFFSET);
  const indexHigh = Math.floor(index / TWO_POW_32);
  const indexLow = index % TWO_POW_32;
  out.writeUInt16BE(out.readUInt16BE(IV_INDEX_HIGH_OFFSET) ^ indexHigh, IV_INDEX_HIGH_OFFSET);
  out.writeUInt32BE((out.readUInt32BE(IV_INDEX_LOW_OFFSET) ^ indexLow) >>> 0, IV_INDEX_LOW_OFFSET);
  return out;
}

/**
 * One session key (RFC 3711 section 4.3.1, key derivation rate 0): `length` octets of the AES-CM
 * keystream under the master key, from the master salt with the label XORed into octet 7.
 */
export function deriveSessionKey(
  masterKey: Uint8Array,
  masterSalt: Uint8Array,
  label: number,
  length: number,
): Buffer {
  if (masterSalt.length !== SRTP_MASTER_SALT_LENGTH) {
    throw new RangeError(
      `SRTP master salt must be ${SRTP_MASTER_SALT_LENGTH} octets, got ${masterSalt.length}`,
    );
  }
  const iv = Buffer.alloc(AES_BLOCK_LENGTH);
  iv.set(masterSalt, 0);
  iv[LABEL_OFFSET] = iv[LABEL_OFFSET]! ^ label;
  return Buffer.from(new AesCounterMode(masterKey).keystream(iv, length));
}

/** The six session keys of one master key (RFC 3711 section 4.3.2). */
export interface SrtpSessionKeys {
  rtpEncryptionKey: Buffer;
  rtpAuthenticationKey: Buffer;
  rtpSalt: Buffer;
  rtcpEncryptionKey: Buffer;
  rtcpAuthenticationKey: Buffer;
  rtcpSalt: Buffer;
}

/** Derives all session keys for the AES_CM_128_HMAC_SHA1 suites. */
export function deriveSrtpSessionKeys(
  masterKey: Uint8Array,
  masterSalt: Uint8Array,
): SrtpSessionKeys {
  const derive = (label: number, length: number): Buffer =>
    deriveSessionKey(masterKey, masterSalt, label, length);
  return {
    rtpEncryptionKey: derive(SRTP_LABEL.rtpEncryption, SRTP_MASTER_KEY_LENGTH),
    rtpAuthenticationKey: derive(SRTP_LABEL.rtpAuthentication, SRTP_AUTH_KEY_LENGTH),
    rtpSalt: derive(SRTP_LABEL.rtpSalt, SRTP_MASTER_SALT_LENGTH),
    rtcpEncryptionKey: derive(SRTP_LABEL.rtcpEncryption, SRTP_MASTER_KEY_LENGTH),
    rtcpAuthenticationKey: derive(SRTP_LABEL.rtcpAuthentication, SRTP_AUTH_KEY_LENGTH),
    rtcpSalt: derive(SRTP_LABEL.rtcpSalt, SRTP_MASTER_SALT_LENGTH),
  };
}
