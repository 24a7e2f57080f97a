// The call model that every renderer draws: plain data, built by src/analyze (from a capture) or by
// the server (from its own traffic). Renderers are pure functions of these values.

/** One column of a ladder: a SIP endpoint seen in the call. */
export interface LadderHost {
  /** 'address:port', IPv6 as '[addr]:port'. Unique within a call. */
  id: string;
  /** What to print at the top of the column: the id, with the user agent when known. */
  label: string;
  userAgent?: string;
}

/** One arrow of a ladder: a SIP message. */
export interface LadderMessage {
  /** 0-based position in the call. */
  index: number;
  /** Capture frame number (1-based, as Wireshark counts), when from a capture. */
  frame?: number;
  /** Seconds since the call's first message. */
  time: number;
  /** Absolute time, seconds since the epoch. */
  ts: number;
  /** Host ids (LadderHost.id) of sender and receiver. */
  from: string;
  to: string;
  transport: string;
  kind: 'request' | 'response';
  /** Request method, or for a response the CSeq method. */
  method: string;
  status?: number;
  /** What the arrow says: 'INVITE', '180 Ringing', 'ACK'. */
  label: string;
  /** Short SDP summary when the message carries SDP, e.g. 'SDP PCMU,telephone-event 10.0.0.1:4000'. */
  sdp?: string;
  /** The whole message as text, for the detail view. */
  raw: string;
  /** True for a retransmission of an earlier message of the call. */
  retransmission?: boolean;
  /**
   * Set when the message breaks the SIP grammar (a strict parser refuses it) and was read
   * tolerantly: what is wrong. Renderers mark the arrow.
   */
  malformed?: string;
  /** The DTMF digit a SIP INFO carries. */
  dtmf?: string;
}

/** An RTP stream drawn under the ladder and listed in reports. */
export interface LadderRtpStream {
  /** '0x' + 8 hex digits, lower case. */
  ssrc: string;
  /** 'ip:port' ('[v6]:port'). */
  src: string;
  dst: string;
  payloadType: number;
  codec: string;
  packets: number;
  /**
   * tshark's Lost: expected - received, where received counts duplicates, so it goes negative
   * when packets arrive twice. Renderers show missingPackets() instead.
   */
  lost: number;
  /** Packets received twice (counted in `packets`). */
  duplicates?: number;
  /** Absolute start and end, seconds since the epoch. */
  start: number;
  end: number;
  maxDeltaMs: number;
  maxJitterMs: number;
  meanJitterMs: number;
  mos?: number;
  dtmf?: string;
  /** The RFC 4733 digits one by one, with the arrival of the packet that completed each. */
  dtmfEvents?: Array<{ ts: number; digit: string }>;
  /** Id of this stream's audio in Report.audio, when the stream is G.711 and audio was exported. */
  audioId?: string;
}

export type CallState = 'completed' | 'rejected' | 'cancelled' | 'in-progress' | 'failed';

export interface LadderCall {
  callId: string;
  /** From and To of the first request, as 'user@host' (display name kept apart). */
  from: string;
  to: string;
  fromDisplay?: string;
  toDisplay?: string;
  firstMethod: string;
  /** Absolute start (first message), seconds since the epoch; duration in seconds. */
  start: number;
  duration: number;
  state: CallState;
  finalStatus?: number;
  finalReason?: string;
  /** 'caller' | 'callee' | undefined when nobody sent BYE. */
  hungUpBy?: 'caller' | 'callee';
  hosts: LadderHost[];
  messages: LadderMessage[];
  rtp: LadderRtpStream[];
  /** DTMF of the call (SIP INFO and RFC 4733), in time order. */
  dtmf?: string;
  /** Id of the stereo call audio in Report.audio, when exported. */
  audioId?: string;
}

export interface Finding {
  kind: string;
  severity: 'info' | 'low' | 'medium' | 'high';
  text: string;
  frames: number[];
  /** Packets the finding rests on in all, when `frames` lists only the first of them. */
  frameCount?: number;
}

export interface SipStats {
  byMethod: Record<string, number>;
  byClass: Record<'1xx' | '2xx' | '3xx' | '4xx' | '5xx' | '6xx', number>;
  byCode: Record<string, number>;
}

/** Everything one report (HTML, JSON) shows. */
export interface Report {
  title: string;
  /** Source (capture file name) and when it was analysed. */
  source?: string;
  calls: LadderCall[];
  /** RTP streams not mapped to any call. */
  rtpStreams: LadderRtpStream[];
  stats?: SipStats;
  findings?: Finding[];
  /** Audio clips by id: WAV files as base64 (8 kHz, 16-bit PCM). */
  audio?: Record<string, string>;
  /** Problems met while reading the source (truncated file, ...). */
  warnings?: string[];
}

/** Packets that never arrived: tshark's Lost with the duplicates given back (never below 0). */
export function missingPackets(s: Pick<LadderRtpStream, 'lost' | 'duplicates'>): number {
  return Math.max(0, s.lost + (s.duplicates ?? 0));
}
