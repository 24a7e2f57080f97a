/**
 * Media primitives: SDP and offer/answer, RTP/RTCP packets and statistics, G.711, RFC 4733
 * events, WAV, MOS, jitter buffer, SRTP. Pure packet, codec and statistics code: no sockets, no
 * timers. This is the layer's declared surface (`trapezoid/media`); the header offsets and the
 * SRTP key-derivation steps stay inside (import their files directly in this layer's tests).
 *
 * @module trapezoid/media
 */

export {
  RTP_VERSION,
  RTP_FIXED_HEADER_LENGTH,
  parseRtpHeader,
  looksLikeRtp,
  isRtcpPayloadType,
  looksLikeRtcp,
  isRtpVersion2At,
  rtpHeaderLengthAt,
  rtpMarkerAt,
  rtpPayload,
  rtpPayloadTypeAt,
  rtpSequenceAt,
  rtpSsrcAt,
  rtpTimestampAt,
} from './rtp-header.ts';
export type { RtpHeader } from './rtp-header.ts';
export { RtpParseError, RtpPacket } from './rtp-packet.ts';
export type { RtpPacketFields } from './rtp-packet.ts';
export {
  sequenceAdd,
  sequenceDiff,
  timestampAdd,
  timestampDiff,
  SerialUnwrapper,
} from './sequence.ts';
export { STATIC_CLOCK_RATES, RtpStreamStats } from './rtp-stream-stats.ts';
export type {
  RtpStreamStatsOptions,
  RtpStreamStatsSnapshot,
  ReceptionInterval,
} from './rtp-stream-stats.ts';

export {
  RTCP_SR,
  RTCP_RR,
  RTCP_SDES,
  RTCP_BYE,
  RTCP_APP,
  SDES_END,
  SDES_CNAME,
  SDES_NAME,
  SDES_EMAIL,
  SDES_PHONE,
  SDES_LOC,
  SDES_TOOL,
  SDES_NOTE,
  SDES_PRIV,
  RtcpParseError,
  parseRtcp,
  rtcpPacketSize,
  marshalRtcpPacketTo,
  marshalRtcp,
  ntpFromUnixMs,
  unixMsFromNtp,
  ntpMiddle32,
} from './rtcp.ts';
export type {
  ReceptionReport,
  SenderInfo,
  SenderReport,
  ReceiverReport,
  SdesItem,
  SourceDescription,
  Goodbye,
  OtherRtcp,
  RtcpPacket,
} from './rtcp.ts';
export { RTCP_MIN_INTERVAL_SECONDS, RtcpSession } from './rtcp-session.ts';
export type { RtcpSessionOptions } from './rtcp-session.ts';

export { JitterBuffer } from './jitter-buffer.ts';
export type { JitterBufferOptions, JitterFrame, JitterBufferStats } from './jitter-buffer.ts';
export {
  ulawEncode,
  ulawDecode,
  alawEncode,
  alawDecode,
  ulawDecodeBuffer,
  alawDecodeBuffer,
  ulawEncodeBuffer,
  alawEncodeBuffer,
  g711Decode,
  g711Encode,
} from './g711.ts';
export type { G711Law } from './g711.ts';
export { resample } from './resample.ts';
export {
  WAVE_FORMAT_PCM,
  WAVE_FORMAT_IEEE_FLOAT,
  WAVE_FORMAT_ALAW,
  WAVE_FORMAT_MULAW,
  WAVE_FORMAT_EXTENSIBLE,
  WavFormatError,
  writeWav,
  readWav,
} from './wav.ts';
export type { WavInput, WavReadOptions, WavAudio } from './wav.ts';
export { delayImpairment, rToMos, estimateMos } from './mos.ts';
export type { MosInput, MosEstimate } from './mos.ts';
export { toneSamples, chirpSamples } from './tone.ts';
export type { ToneOptions } from './tone.ts';

export {
  FLASH_EVENT,
  parseTelephoneEvent,
  looksLikeDtmfEvent,
  buildTelephoneEvent,
  writeTelephoneEvent,
  eventToDigit,
  digitToEvent,
  DtmfEventDetector,
} from './telephone-event.ts';
export type { TelephoneEvent, DetectedEvent } from './telephone-event.ts';
export { TelephoneEventSender } from './telephone-event-sender.ts';
export type {
  TelephoneEventSenderOptions,
  TelephoneEventPacket,
} from './telephone-event-sender.ts';

export {
  SdpParseError,
  STATIC_PAYLOAD_TYPES,
  parseSdp,
  mediaAddress,
  mediaDirection,
  mediaCodecs,
  formatSdp,
  sdpSummary,
} from './sdp.ts';
export type {
  Direction,
  AddressType,
  SdpConnection,
  RtpMap,
  SdpCrypto,
  SdpAttribute,
  SdpOrigin,
  MediaDescription,
  SessionDescription,
  ParsedSdp,
} from './sdp.ts';
export {
  DEFAULT_CODECS,
  createOffer,
  answerDirection,
  createAnswer,
  negotiateAudio,
} from './offer-answer.ts';
export type { Codec, LocalMedia, NegotiatedAudio } from './offer-answer.ts';

export { SRTP_SUITES, isSrtpDrop, SrtpContext } from './srtp-context.ts';
export type { SrtpSuite, SrtpDrop, SrtpContextOptions, SrtpStats } from './srtp-context.ts';
export { SrtpReplayWindow, DEFAULT_REPLAY_WINDOW } from './srtp-replay-window.ts';
export type { ReplayCheck } from './srtp-replay-window.ts';
export {
  SdesParseError,
  isSrtpSuite,
  parseSdesCrypto,
  formatSdesCrypto,
  toSdpCrypto,
  fromSdpCrypto,
  createSdesCrypto,
  createSdesOffer,
  isUsableSdesCrypto,
  answerSdesOffer,
  acceptSdesCrypto,
  srtpOptionsFromSdes,
} from './sdes-crypto.ts';
export type { SdesMki, SdesKey, SdesCrypto, SdesAnswer } from './sdes-crypto.ts';
