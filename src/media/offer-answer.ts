// The SDP offer/answer model (RFC 3264) for audio calls.
//
// - The answer has one m= section per offered one, in the same order (section 6).
// - An accepted audio stream lists the formats both sides support, in the OFFERER's order and
//   with the offerer's payload type numbers, dynamic ones included (section 6.1), so that the
//   same number means the same codec in both directions.
// - A stream is rejected with port 0 (section 6) when the offer's port is 0, when it is not
//   audio, when its profile is one we cannot do (SRTP without keys), or when nothing but
//   telephone-event/comfort noise is in common.
// - Directions (section 6.1): an offered sendonly stream is answered recvonly, recvonly with
//   sendonly, inactive with inactive; sendrecv with what the answerer wants. Hold (RFC 3264
//   section 8.4; RFC 6337 section 5) is a re-offer with sendonly, or inactive.
// - c= may be at session or media level; IPv6 addresses are given as "IN IP6".
// - Each side sends with the first codec of the OTHER side's list that it supports, using the
//   other side's payload type number (section 5.1): negotiateAudio works that out.

import {
  mediaAddress,
  mediaCodecs,
  mediaDirection,
  parseSdp,
  type AddressType,
  type Direction,
  type MediaDescription,
  type RtpMap,
  type SdpCrypto,
  type SessionDescription,
} from './sdp.ts';

export interface Codec {
  /** PCMU, PCMA, telephone-event, ... (compared case-insensitively). */
  encoding: string;
  clockRate: number;
  channels?: number;
  /** Payload type to offer; static types use their number, dynamic ones default from 96 up. */
  payloadType?: number;
  fmtp?: string;
}

/** The codecs a softphone offers by default: PCMU, PCMA and RFC 4733 events 0-16. */
export const DEFAULT_CODECS: readonly Codec[] = [
  { encoding: 'PCMU', clockRate: 8000, payloadType: 0 },
  { encoding: 'PCMA', clockRate: 8000, payloadType: 8 },
  { encoding: 'telephone-event', clockRate: 8000, payloadType: 101, fmtp: '0-16' },
];

const STATIC_NUMBERS: Readonly<Record<string, number>> = {
  'PCMU/8000': 0,
  'PCMA/8000': 8,
  'G722/8000': 9,
};
const FIRST_DYNAMIC_PT = 96;
/** Formats that do not carry the call's audio on their own. */
const AUXILIARY_ENCODINGS = new Set(['telephone-event', 'cn']);

export interface LocalMedia {
  /** Where we receive RTP. */
  address: string;
  port: number;
  /** IP4 or IP6; guessed from the address when absent. */
  addressType?: AddressType;
  /** What we support, in order of preference (default DEFAULT_CODECS). */
  codecs?: readonly Codec[];
  /** Packetization time to ask for (default 20). */
  ptime?: number;
  /** What we want to do: default sendrecv. sendonly or inactive put the call on hold. */
  direction?: Direction;
  /** Origin fields. sessionId defaults to a number from the clock, version to the same. */
  username?: string;
  sessionId?: string;
  sessionVersion?: string | number;
  sessionName?: string;
  /** Put c= in the m= section instead of the session part. */
  connectionAtMediaLevel?: boolean;
  /** RTP/AVP unless given; RTP/SAVP needs crypto. */
  proto?: string;
  /** SDES keys to offer (RFC 4568). */
  crypto?: SdpCrypto[];
  /**
   * For answers to RTP/SAVP offers: picks the offered crypto line to accept and returns our own
   * line (same tag and suite, our key). Without it SRTP offers are rejected.
   */
  acceptCrypto?: (offered: SdpCrypto[]) => SdpCrypto | undefined;
}

function addressTypeOf(local: LocalMedia): AddressType {
  return local.addressType ?? (local.address.includes(':') ? 'IP6' : 'IP4');
}

function defaultSessionId(): string {
  return String(Math.floor(Date.now() / 1000) + 2208988800); // NTP seconds, as RFC 4566 suggests
}

function sameCodec(
  a: { encoding: string; clockRate: number; channels?: number },
  b: typeof a,
): boolean {
  return (
    a.encoding.toLowerCase() === b.encoding.toLowerCase() &&
    a.clockRate === b.clockRate &&
    (a.channels ?? 1) === (b.channels ?? 1)
  );
}

function sessionShell(local: LocalMedia): SessionDescription {
  const sessionId = local.sessionId ?? defaultSessionId();
  const addressType = addressTypeOf(local);
  const sdp: SessionDescription = {
    version: 0,
    origin: {
      username: local.username ?? '-',
      sessionId,
      sessionVersion: String(local.sessionVersion ?? sessionId),
      addressType,
      address: local.address,
    },
    sessionName: local.sessionName ?? '-',
    timing: { start: 0, stop: 0 },
    attributes: [],
    media: [],
  };
  if (!local.connectionAtMediaLevel) sdp.connection = { addressType, address: local.address };
  return sdp;
}

function audioSection(local: LocalMedia, proto: string): MediaDescription {
  const media: MediaDescription = {
    type: 'audio',
    port: local.port,
    proto,
    formats: [],
    rtpmap: [],
    fmtp: {},
    ptime: local.ptime ?? 20,
    direction: local.direction ?? 'sendrecv',
    crypto: [],
    rtcpMux: false,
    attributes: [],
  };
  if (local.connectionAtMediaLevel) {
    media.connection = { addressType: addressTypeOf(local), address: local.address };
  }
  return media;
}

function addFormat(
  media: MediaDescription,
  pt: number,
  codec: RtpMap,
  fmtp: string | undefined,
): void {
  media.formats.push(String(pt));
  const map: RtpMap = { payloadType: pt, encoding: codec.encoding, clockRate: codec.clockRate };
  if (codec.channels !== undefined && codec.channels !== 1) map.channels = codec.channels;
  media.rtpmap.push(map);
  if (fmtp !== undefined) media.fmtp[pt] = fmtp;
}

/** An offer with one audio stream (RFC 3264 section 5). */
export function createOffer(local: LocalMedia): SessionDescription {
  const sdp = sessionShell(local);
  const media = audioSection(local, local.proto ?? (local.crypto?.length ? 'RTP/SAVP' : 'RTP/AVP'));
  const used = new Set<number>();
  const codecs = local.codecs ?? DEFAULT_CODECS;
  for (const codec of codecs) if (codec.payloadType !== undefined) used.add(codec.payloadType);
  let nextDynamic = FIRST_DYNAMIC_PT;
  for (const codec of codecs) {
    let pt =
      codec.payloadType ?? STATIC_NUMBERS[`${codec.encoding.toUpperCase()}/${codec.clockRate}`];
    if (pt === undefined) {
      while (used.has(nextDynamic)) nextDynamic++;
      pt = nextDynamic;
      used.add(pt);
    }
    addFormat(media, pt, { payloadType: pt, ...codec }, codec.fmtp);
  }
  if (local.crypto) media.crypto = local.crypto.map((c) => ({ ...c }));
  sdp.media.push(media);
  return sdp;
}

/** The answer's direction for an offered direction and what the answerer wants. */
export function answerDirection(offered: Direction, wanted: Direction = 'sendrecv'): Direction {
  const offerSends = offered === 'sendrecv' || offered === 'sendonly';
  const offerReceives = offered === 'sendrecv' || offered === 'recvonly';
  const wantSend = wanted === 'sendrecv' || wanted === 'sendonly';
  const wantReceive = wanted === 'sendrecv' || wanted === 'recvonly';
  const send = offerReceives && wantSend;
  const receive = offerSends && wantReceive;
  return send && receive ? 'sendrecv' : send ? 'sendonly' : receive ? 'recvonly' : 'inactive';
}

function rejected(offered: MediaDescription): MediaDescription {
  return {
    type: offered.type,
    port: 0,
    proto: offered.proto,
    formats: offered.formats.length > 0 ? [...offered.formats] : ['0'],
    rtpmap: [],
    fmtp: {},
    crypto: [],
    rtcpMux: false,
    attributes: [],
  };
}

/**
 * The answer to an offer (RFC 3264 section 6). Audio streams we can do are accepted with the
 * common codecs in the offerer's order and numbering; every other stream is rejected with
 * port 0. Only the first acceptable audio stream is accepted (one call, one audio stream).
 */
export function createAnswer(
  offer: SessionDescription | string,
  local: LocalMedia,
): SessionDescription {
  const remote = typeof offer === 'string' ? parseSdp(offer) : offer;
  const sdp = sessionShell(local);
  const supported = local.codecs ?? DEFAULT_CODECS;
  let accepted = false;
  for (const offered of remote.media) {
    if (
      accepted ||
      offered.type !== 'audio' ||
      offered.port === 0 ||
      !offered.proto.startsWith('RTP/')
    ) {
      sdp.media.push(rejected(offered));
      continue;
    }
    let crypto: SdpCrypto | undefined;
    if (offered.proto.includes('SAVP')) {
      crypto = local.acceptCrypto?.(offered.crypto);
      if (!crypto) {
        sdp.media.push(rejected(offered));
        continue;
      }
    }
    const media = audioSection(local, offered.proto);
    media.ptime = local.ptime ?? offered.ptime ?? 20;
    media.direction = answerDirection(mediaDirection(remote, offered), local.direction);
    for (const codec of mediaCodecs(offered)) {
      const ours = supported.find((c) => sameCodec(c, codec));
      if (!ours) continue;
      addFormat(media, codec.payloadType, codec, ours.fmtp ?? offered.fmtp[codec.payloadType]);
    }
    const hasVoice = media.rtpmap.some((r) => !AUXILIARY_ENCODINGS.has(r.encoding.toLowerCase()));
    if (!hasVoice) {
      sdp.media.push(rejected(offered));
      continue;
    }
    if (crypto) media.crypto = [crypto];
    sdp.media.push(media);
    accepted = true;
  }
  return sdp;
}

/** What one side does after offer/answer, for the first audio stream. */
export interface NegotiatedAudio {
  /** Index of the m= section. */
  index: number;
  /** Where to send RTP. */
  remoteAddress: string;
  remoteAddressType: AddressType;
  remotePort: number;
  /** RTCP port: a=rtcp, or RTP port + 1, or the RTP port with rtcp-mux. */
  remoteRtcpPort: number;
  /** Codec to send, with the payload type number the remote side listed. */
  codec: RtpMap;
  /** telephone-event at 8000 Hz as the remote side numbered it, when both support it. */
  telephoneEvent?: RtpMap;
  /** Packetization time to use when sending (the remote's a=ptime, else 20). */
  ptime: number;
  /** Whether we may send and should expect to receive media. */
  send: boolean;
  receive: boolean;
  /**
   * The remote side's SRTP key line, when the stream is RTP/SAVP: the line whose tag matches
   * ours (the one the answer accepted), whichever side we are.
   */
  remoteCrypto?: SdpCrypto;
}

/**
 * The outcome for one side, given its own description and the other side's (offer or answer).
 * Undefined when no audio stream was accepted or nothing is in common.
 */
export function negotiateAudio(
  localSdp: SessionDescription,
  remoteSdp: SessionDescription,
): NegotiatedAudio | undefined {
  const count = Math.min(localSdp.media.length, remoteSdp.media.length);
  for (let index = 0; index < count; index++) {
    const mine = localSdp.media[index]!;
    const theirs = remoteSdp.media[index]!;
    if (mine.type !== 'audio' || mine.port === 0 || theirs.port === 0) continue;
    const ourCodecs = mediaCodecs(mine);
    const common = mediaCodecs(theirs).filter((c) => ourCodecs.some((o) => sameCodec(o, c)));
    const codec = common.find((c) => !AUXILIARY_ENCODINGS.has(c.encoding.toLowerCase()));
    if (!codec) continue;
    const address = mediaAddress(remoteSdp, theirs);
    if (!address) continue;
    const ourDirection = mediaDirection(localSdp, mine);
    const theirDirection = mediaDirection(remoteSdp, theirs);
    const result: NegotiatedAudio = {
      index,
      remoteAddress: address.address,
      remoteAddressType: address.addressType,
      remotePort: theirs.port,
      // RFC 5761: RTCP shares the RTP port only when both sides said a=rtcp-mux.
      remoteRtcpPort:
        theirs.rtcpMux && mine.rtcpMux ? theirs.port : (theirs.rtcp?.port ?? theirs.port + 1),
      codec,
      ptime: theirs.ptime ?? 20,
      send:
        (ourDirection === 'sendrecv' || ourDirection === 'sendonly') &&
        (theirDirection === 'sendrecv' || theirDirection === 'recvonly'),
      receive:
        (ourDirection === 'sendrecv' || ourDirection === 'recvonly') &&
        (theirDirection === 'sendrecv' || theirDirection === 'sendonly'),
    };
    const event = common.find(
      (c) => c.encoding.toLowerCase() === 'telephone-event' && c.clockRate === 8000,
    );
    if (event) result.telephoneEvent = event;
    // RFC 4568 section 7: the answer holds one crypto line, whose tag names the offer line it
    // accepted. As the answerer (our one line answers theirs) the remote key is the offered line
    // with our tag, not simply their first; as the offerer their only line is the one.
    // (An answer naming a tag we never offered gives no remote key.)
    const remoteCrypto = theirs.crypto.find(
      (c) => mine.crypto.length === 0 || mine.crypto.some((m) => m.tag === c.tag),
    );
    if (remoteCrypto) result.remoteCrypto = remoteCrypto;
    return result;
  }
  return undefined;
}
