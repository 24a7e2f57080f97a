// SDP Security Descriptions for media streams (SDES, RFC 4568): the a=crypto attribute that
// carries SRTP master keys in the offer and the answer.
//
//   a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]
//
//   tag            = 1*9DIGIT                        (section 9.1)
//   key-params     = key-param *(";" key-param)
//   key-param      = "inline:" key-salt ["|" lifetime] ["|" mki]
//   key-salt       = base64(master key || master salt)        (30 octets for AES_CM_128_*)
//   lifetime       = ["2^"] 1*DIGIT                  (packets under this key)
//   mki            = mki-value ":" mki-length        (MKI value, and its length in octets 1..128)
//   session-param  = KDR=n / UNENCRYPTED_SRTP / UNENCRYPTED_SRTCP / UNAUTHENTICATED_SRTP /
//                    FEC_ORDER=... / FEC_KEY=... / WSH=n / extensions
//
// Example (section 4):
//   a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4
//
// Offer/answer (section 7): the offerer lists one or more lines, most preferred first; the
// answerer accepts exactly one, answering with the same tag and suite and a key of its own. Each
// side then sends with its own key and receives with the other side's.

import { randomBytes } from 'node:crypto';
import type { SdpCrypto } from './sdp.ts';
import { SRTP_SUITES, type SrtpContextOptions, type SrtpSuite } from './srtp-context.ts';
import { SRTP_MASTER_KEY_LENGTH, SRTP_MASTER_SALT_LENGTH } from './srtp-key-derivation.ts';
import { MIN_REPLAY_WINDOW } from './srtp-replay-window.ts';

export class SdesParseError extends Error {
  override name = 'SdesParseError';
  /** The attribute that could not be read. */
  readonly line: string;

  constructor(message: string, line: string) {
    super(`${message} in "${line}"`);
    this.line = line;
  }
}

/** A master key identifier (RFC 4568 section 6.1): its value and its length on the wire. */
export interface SdesMki {
  value: number;
  /** Octets of MKI in every SRTP/SRTCP packet, 1..128. */
  length: number;
}

/** One inline key of a crypto line. */
export interface SdesKey {
  /** Master key followed by master salt, as decoded from base64. */
  keySalt: Buffer;
  /** Maximum number of packets under this key, when given. */
  lifetime?: number;
  mki?: SdesMki;
}

/** One a=crypto attribute. */
export interface SdesCrypto {
  tag: number;
  suite: string;
  keys: SdesKey[];
  /** Session parameters as written (KDR=.., UNENCRYPTED_SRTP, WSH=.., ...). */
  sessionParams: string[];
}

/** Octets of key || salt for the AES_CM_128 suites: 16 + 14. */
export const SDES_KEY_SALT_LENGTH = SRTP_MASTER_KEY_LENGTH + SRTP_MASTER_SALT_LENGTH;

const MAX_TAG_DIGITS = 9;
const MAX_MKI_LENGTH = 128;
const TAG_PATTERN = /^\d{1,9}$/;
const SUITE_PATTERN = /^[A-Za-z0-9_]+$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/]+={0,2}$/;
const LIFETIME_PATTERN = /^(2\^)?(\d+)$/;
const MKI_PATTERN = /^(\d+):(\d{1,3})$/;
const WSH_PATTERN = /^WSH=(\d+)$/i;
const INLINE = 'inline:';
const ATTRIBUTE_PREFIX = /^a=crypto:/i;
const NAME_PREFIX = /^crypto:/i;

export function isSrtpSuite(suite: string): suite is SrtpSuite {
  return (SRTP_SUITES as readonly string[]).includes(suite);
}

/**
 * Reads one crypto attribute: the whole line `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:...`,
 * or the same without `a=` or without `a=crypto:`. Throws SdesParseError naming the problem.
 * Suites other than ours are read too (an offer may list them); for ours the key must be 30
 * octets.
 */
export function parseSdesCrypto(text: string): SdesCrypto {
  const line = text.trim();
  const value = line.replace(ATTRIBUTE_PREFIX, '').replace(NAME_PREFIX, '');
  const fields = value.split(/[ \t]+/).filter((f) => f !== '');
  if (fields.length < 3) {
    throw new SdesParseError(
      'crypto attribute needs a tag, a crypto suite and key parameters',
      line,
    );
  }
  const [tagText, suite, keyParams, ...sessionParams] = fields as [
    string,
    string,
    string,
    ...string[],
  ];
  if (!TAG_PATTERN.test(tagText)) {
    throw new SdesParseError(`tag "${tagText}" is not 1 to ${MAX_TAG_DIGITS} digits`, line);
  }
  if (!SUITE_PATTERN.test(suite)) {
    throw new SdesParseError(
      `crypto suite "${suite}" has characters other than A-Z a-z 0-9 _`,
      line,
    );
  }
  const keys = keyParams.split(';').map((param) => parseKeyParam(param, suite, line));
  if (keys.length > 1 && keys.some((k) => !k.mki)) {
    throw new SdesParseError('several keys in one crypto line need an MKI each', line);
  }
  return { tag: Number(tagText), suite, keys, sessionParams };
}

function parseKeyParam(param: string, suite: string, line: string): SdesKey {
  if (param.slice(0, INLINE.length).toLowerCase() !== INLINE) {
    throw new SdesParseError(`key parameter "${param}" is not "inline:<key||salt>"`, line);
  }
  const [keyText = '', ...rest] = param.slice(INLINE.length).split('|');
  if (!BASE64_PATTERN.test(keyText)) {
    throw new SdesParseError(`key "${keyText}" is not base64`, line);
  }
  const keySalt = Buffer.from(keyText, 'base64');
  if (keySalt.toString('base64').replace(/=+$/, '') !== keyText.replace(/=+$/, '')) {
    throw new SdesParseError(`key "${keyText}" is not canonical base64`, line);
  }
  if (isSrtpSuite(suite) && keySalt.length !== SDES_KEY_SALT_LENGTH) {
    throw new SdesParseError(
      `${suite} needs ${SDES_KEY_SALT_LENGTH} octets of key and salt, "${keyText}" has ${keySalt.length}`,
      line,
    );
  }
  const key: SdesKey = { keySalt };
  if (rest.length > 2) throw new SdesParseError(`too many "|" fields in "${param}"`, line);
  for (const [position, field] of rest.entries()) {
    const mki = MKI_PATTERN.exec(field);
    if (mki) {
      const length = Number(mki[2]);
      if (length < 1 || length > MAX_MKI_LENGTH) {
        throw new SdesParseError(`MKI length ${length} is outside 1..${MAX_MKI_LENGTH}`, line);
      }
      const value = Number(mki[1]);
      if (!Number.isSafeInteger(value) || (length < 7 && value >= 2 ** (8 * length))) {
        throw new SdesParseError(`MKI value ${mki[1]} does not fit in ${length} octets`, line);
      }
      key.mki = { value, length };
      continue;
    }
    const lifetime = LIFETIME_PATTERN.exec(field);
    if (lifetime && position === 0) {
      const n = Number(lifetime[2]);
      key.lifetime = lifetime[1] ? 2 ** n : n;
      if (!Number.isSafeInteger(key.lifetime) || key.lifetime <= 0) {
        throw new SdesParseError(`key lifetime "${field}" is not a positive packet count`, line);
      }
      continue;
    }
    throw new SdesParseError(
      `"${field}" is neither a lifetime (2^n or digits) nor an MKI (value:length)`,
      line,
    );
  }
  if (rest.length === 2 && (key.lifetime === undefined || key.mki === undefined)) {
    throw new SdesParseError(`expected "|lifetime|value:length" after the key in "${param}"`, line);
  }
  return key;
}

function formatLifetime(lifetime: number): string {
  const exponent = Math.log2(lifetime);
  return Number.isInteger(exponent) && exponent > 0 ? `2^${exponent}` : String(lifetime);
}

function formatKeyParams(keys: readonly SdesKey[]): string {
  return keys
    .map((k) => {
      let text = INLINE + k.keySalt.toString('base64');
      if (k.lifetime !== undefined) text += `|${formatLifetime(k.lifetime)}`;
      if (k.mki) text += `|${k.mki.value}:${k.mki.length}`;
      return text;
    })
    .join(';');
}

/** The attribute line, without CRLF: `a=crypto:<tag> <suite> inline:<key||salt>...`. */
export function formatSdesCrypto(crypto: SdesCrypto): string {
  const params = crypto.sessionParams.length ? ` ${crypto.sessionParams.join(' ')}` : '';
  return `a=crypto:${crypto.tag} ${crypto.suite} ${formatKeyParams(crypto.keys)}${params}`;
}

/** As the SDP layer (sdp.ts) carries it. */
export function toSdpCrypto(crypto: SdesCrypto): SdpCrypto {
  const sdp: SdpCrypto = {
    tag: crypto.tag,
    suite: crypto.suite,
    keyParams: formatKeyParams(crypto.keys),
  };
  if (crypto.sessionParams.length) sdp.sessionParams = crypto.sessionParams.join(' ');
  return sdp;
}

/** Reads a crypto line that the SDP layer has split into fields. Throws SdesParseError. */
export function fromSdpCrypto(sdp: SdpCrypto): SdesCrypto {
  const params = sdp.sessionParams ? ` ${sdp.sessionParams}` : '';
  return parseSdesCrypto(`${sdp.tag} ${sdp.suite} ${sdp.keyParams}${params}`);
}

/** A crypto line with a fresh random master key and salt (crypto.randomBytes). */
export function createSdesCrypto(
  tag: number,
  suite: SrtpSuite = 'AES_CM_128_HMAC_SHA1_80',
): SdesCrypto {
  return { tag, suite, keys: [{ keySalt: randomBytes(SDES_KEY_SALT_LENGTH) }], sessionParams: [] };
}

/** An offer's crypto lines: one per suite, tags 1, 2, ..., each with its own fresh key. */
export function createSdesOffer(suites: readonly SrtpSuite[] = SRTP_SUITES): SdesCrypto[] {
  return suites.map((suite, i) => createSdesCrypto(i + 1, suite));
}

/**
 * Whether we can use this line: our suite, one key, no session parameter that changes the
 * transform (KDR, UNENCRYPTED_*, UNAUTHENTICATED_SRTP, FEC_*); WSH is honoured.
 */
export function isUsableSdesCrypto(crypto: SdesCrypto): boolean {
  if (!isSrtpSuite(crypto.suite) || crypto.keys.length !== 1) return false;
  return crypto.sessionParams.every((p) => {
    const wsh = WSH_PATTERN.exec(p);
    return wsh !== null && Number(wsh[1]) >= MIN_REPLAY_WINDOW;
  });
}

/** The accepted offer line and our answer to it (same tag and suite, our own fresh key). */
export interface SdesAnswer {
  offer: SdesCrypto;
  answer: SdesCrypto;
}

/**
 * Chooses, from an offer's crypto lines in order, the first one we can use (RFC 4568 section
 * 7.1.2) and makes our answer line with a new key. Lines we cannot read are passed over.
 * Undefined when none is usable (the stream is then rejected).
 */
export function answerSdesOffer(
  offered: readonly (SdesCrypto | SdpCrypto | string)[],
): SdesAnswer | undefined {
  for (const item of offered) {
    let offer: SdesCrypto;
    try {
      offer =
        typeof item === 'string'
          ? parseSdesCrypto(item)
          : 'keyParams' in item
            ? fromSdpCrypto(item)
            : item;
    } catch (error) {
      if (error instanceof SdesParseError) continue;
      throw error;
    }
    if (!isUsableSdesCrypto(offer) || !isSrtpSuite(offer.suite)) continue;
    const answer = createSdesCrypto(offer.tag, offer.suite);
    const mki = offer.keys[0]?.mki;
    if (mki) answer.keys[0]!.mki = { value: 1, length: mki.length };
    return { offer, answer };
  }
  return undefined;
}

/**
 * For offer-answer.ts's `acceptCrypto` hook: our answer line to an RTP/SAVP offer, or undefined.
 * The offer line it answers has the same tag.
 */
export function acceptSdesCrypto(offered: readonly SdpCrypto[]): SdpCrypto | undefined {
  const chosen = answerSdesOffer(offered);
  return chosen && toSdpCrypto(chosen.answer);
}

/** The MKI as it appears in packets: the value big-endian in `length` octets. */
export function sdesMkiBytes(mki: SdesMki): Buffer {
  const out = Buffer.alloc(mki.length);
  let value = mki.value;
  for (let at = mki.length - 1; at >= 0 && value > 0; at--) {
    out[at] = value % 256;
    value = Math.floor(value / 256);
  }
  return out;
}

/**
 * What an SrtpContext needs from a crypto line: suite, master key and salt, the MKI when the
 * line has one, and the replay window from WSH. Throws when we cannot use the line.
 */
export function srtpOptionsFromSdes(crypto: SdesCrypto | SdpCrypto): SrtpContextOptions {
  const line = 'keyParams' in crypto ? fromSdpCrypto(crypto) : crypto;
  const suite = line.suite;
  if (!isUsableSdesCrypto(line) || !isSrtpSuite(suite)) {
    throw new SdesParseError(
      'crypto line is not usable for SRTP here (suite, several keys or session parameters)',
      formatSdesCrypto(line),
    );
  }
  const key = line.keys[0]!;
  const options: SrtpContextOptions = {
    suite,
    masterKey: key.keySalt.subarray(0, SRTP_MASTER_KEY_LENGTH),
    masterSalt: key.keySalt.subarray(SRTP_MASTER_KEY_LENGTH, SDES_KEY_SALT_LENGTH),
  };
  if (key.mki) options.mki = sdesMkiBytes(key.mki);
  for (const param of line.sessionParams) {
    const wsh = WSH_PATTERN.exec(param);
    if (wsh) options.replayWindow = Number(wsh[1]);
  }
  return options;
}
