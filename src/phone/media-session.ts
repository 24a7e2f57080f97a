// The phone's media for one call: an RTP socket on an even port and an RTCP socket on the next,
// the SDP offer or answer that describes them (RFC 3264), and once the call is answered:
//
//   send   every ptime ms (20 by default), scheduled by the clock: packet n is due at
//          start + n * ptime, so a late timer is caught up at once instead of drifting. Audio
//          comes from the AudioSource (G.711 encoded); RFC 4733 digits replace it while they
//          are sent (`dtmf`, starting `dtmfDelayMs` after the answer).
//   rtcp   a compound SR or RR + SDES CNAME about every 5 s (RtcpSession), a BYE at the end.
//   recv   RTP is accepted only from the address and port of the peer's SDP (the c= address
//          and the m= port; a=rtcp or port + 1 for RTCP). Anything else is dropped and counted
//          as `wrongSource`: no latching onto another source, so a third party cannot inject
//          or hijack the stream. Then SRTP is checked (RFC 3711: authentication, then the
//          replay window of 128 packets: replayed and too-old packets are dropped and counted),
//          then the payload type: the negotiated codec feeds the statistics (RFC 3550 loss and
//          jitter) and the jitter buffer, telephone-event feeds the DTMF detector, comfort noise
//          only the statistics, other types are dropped as `unknownPayload`. At most 8 SSRCs
//          are followed (a new one restarts playout); packets of more count as `wrongSource`.
//   play   the jitter buffer (fixed 300 ms delay) is read every 20 ms into the recorder (WAV, 8 kHz
//          mono 16-bit); at the end what is still buffered is written too.
//
// No socket or timer outlives stop().
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  acceptSdesCrypto,
  createAnswer,
  createOffer,
  createSdesOffer,
  DtmfEventDetector,
  estimateMos,
  formatSdp,
  g711Decode,
  g711Encode,
  isSrtpDrop,
  isSrtpSuite,
  JitterBuffer,
  negotiateAudio,
  ntpFromUnixMs,
  ntpMiddle32,
  parseRtcp,
  parseRtpHeader,
  parseSdp,
  RtcpSession,
  RtpPacket,
  RtpStreamStats,
  SerialUnwrapper,
  srtpOptionsFromSdes,
  SrtpContext,
  TelephoneEventSender,
  toSdpCrypto,
  type Codec,
  type Direction,
  type NegotiatedAudio,
  type SdpCrypto,
  type SessionDescription,
  type SrtpSuite,
} from '../media/index.ts';
import { formatHostPort } from '../sip/index.ts';
import { silence, type AudioSource } from './audio-source.ts';
import { WavRecorder } from './wav-recorder.ts';

export interface MediaOptions {
  /** Address to bind and to put in the SDP. */
  address: string;
  /** Even RTP port from this range (RTCP takes the next one); default: any free port. */
  ports?: { low: number; high: number };
  cname: string;
  play?: AudioSource;
  /** WAV file to record what is received. */
  record?: string;
  /** DTMF digits to send after the answer. */
  dtmf?: string;
  /** Wait after the answer before the first digit (default 1000 ms). */
  dtmfDelayMs?: number;
  /** Offer RTP/SAVP with these suites; as the answerer, refuse plain RTP. */
  srtp?: readonly SrtpSuite[];
  /**
   * Playout delay of the jitter buffer (default 300 ms: the phone plays to a file, not a
   * speaker, so latency costs nothing and a deep buffer rides out event-loop stalls).
   */
  jitterDelayMs?: number;
  /** What we want to do (default sendrecv); the answer's direction follows RFC 3264 6.1. */
  direction?: Direction;
  /** RTCP report interval before randomisation (default 5 s, RFC 3550's minimum). */
  rtcpIntervalSeconds?: number;
}

/** `codec` and addresses of a started stream (the `media` event). */
export interface MediaInfo {
  codec: string;
  payloadType: number;
  telephoneEvent: number | null;
  ptime: number;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  srtp: string | null;
  local: string;
  remote: string;
}

/** Figures at the end of the call (the `stats` event); see phone.ts for their meaning. */
export interface MediaStats {
  codec: string;
  srtp: string | null;
  durationSeconds: number;
  sent: { packets: number; octets: number; dtmf: number };
  received: {
    packets: number;
    expected: number;
    lost: number;
    lostPercent: number;
    jitterMs: number;
    duplicates: number;
    outOfOrder: number;
    late: number;
    concealed: number;
    dtmf: number;
  };
  dropped: {
    wrongSource: number;
    malformed: number;
    unknownPayload: number;
    authFailures: number;
    replayed: number;
    tooOld: number;
  };
  rtcp: { sent: number; received: number; rttMs: number | null };
  mos: number | null;
  recordedSeconds: number | null;
}

export type MediaNotice =
  { event: 'dtmf'; digit: string; durationMs: number } | { event: 'dtmf-sent'; digit: string };

/** An offer or answer we cannot work with: the call is refused with 488 or hung up. */
export class MediaNegotiationError extends Error {
  override name = 'MediaNegotiationError';
}

const CODECS: readonly Codec[] = [
  { encoding: 'PCMU', clockRate: 8000, payloadType: 0 },
  { encoding: 'PCMA', clockRate: 8000, payloadType: 8 },
  { encoding: 'telephone-event', clockRate: 8000, payloadType: 101, fmtp: '0-16' },
];
const COMFORT_NOISE_PT = 13;
const CLOCK_RATE = 8000;
const PLAYOUT_FRAME_MS = 20;
const PLAYOUT_FRAME_SAMPLES = 160;
/** Packets sent at most in one timer callback when catching up after a stall. */
const MAX_BURST = 10;
const MIN_PTIME = 10;
const MAX_PTIME = 100;
const PORT_ATTEMPTS = 50;
/** Largest datagram read (more than any sane RTP packet; bigger ones are malformed). */
const MAX_DATAGRAM = 1500;
/** Sources (SSRCs) tracked at most; packets of further ones count as wrongSource. */
const MAX_SOURCES = 8;

function bind(socket: Socket, port: number, address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onError = () => resolve(false);
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      resolve(true);
    });
  });
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

/** A pair of sockets on ports P (even) and P + 1. */
async function bindPair(
  address: string,
  ports: { low: number; high: number } | undefined,
): Promise<[Socket, Socket]> {
  const type = address.includes(':') ? 'udp6' : 'udp4';
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    let port = 0;
    if (ports) {
      const evenLow = ports.low + (ports.low % 2);
      const pairs = Math.floor((ports.high - evenLow - 1) / 2) + 1;
      if (pairs <= 0) break;
      port = evenLow + 2 * randomInt(pairs);
    }
    const rtp = createSocket(type);
    if (!(await bind(rtp, port, address))) {
      await closeSocket(rtp);
      continue;
    }
    const got = rtp.address().port;
    if (got % 2 !== 0) {
      await closeSocket(rtp);
      continue;
    }
    const rtcp = createSocket(type);
    if (await bind(rtcp, got + 1, address)) return [rtp, rtcp];
    await Promise.all([closeSocket(rtp), closeSocket(rtcp)]);
  }
  const range = ports ? ` in ${ports.low}-${ports.high}` : '';
  throw new Error(`no free pair of RTP/RTCP ports${range} on ${address}`);
}

function sameHost(a: string, b: string): boolean {
  const strip = (x: string) => x.toLowerCase().replace(/^::ffff:/, '');
  return strip(a) === strip(b);
}

interface Incoming {
  stats: RtpStreamStats;
}

export class MediaSession {
  readonly localAddress: string;
  readonly localPort: number;
  private readonly options: MediaOptions;
  private readonly rtp: Socket;
  private readonly rtcpSocket: Socket;
  private readonly closed: Promise<void>;
  private readonly notify: (n: MediaNotice) => void;

  private localSdp: SessionDescription | undefined;
  private ourCrypto: SdpCrypto[] = [];
  private negotiated: NegotiatedAudio | undefined;
  private srtpOut: SrtpContext | undefined;
  private srtpIn: SrtpContext | undefined;
  private srtpSuite: string | null = null;
  private srtpKeys: string | undefined;

  // sending
  private readonly ssrc = randomInt(2 ** 32 - 1) >>> 0;
  private sequence = randomInt(2 ** 16);
  private timestamp = randomInt(2 ** 32 - 1) >>> 0;
  private samplesPerPacket = 160;
  private ptime = 20;
  private source: AudioSource;
  private dtmfSender: TelephoneEventSender | undefined;
  private dtmfStartAt = 0;
  private firstAudioSent = false;
  private sentPackets = 0;
  private sentOctets = 0;
  private sentDtmf = 0;

  // clock
  private timer: NodeJS.Timeout | undefined;
  private startedAt: number | undefined;
  private ticks = 0;
  private playoutFrames = 0;
  private stoppedStats: MediaStats | undefined;

  // receiving
  private readonly incoming = new Map<number, Incoming>();
  private currentSsrc: number | undefined;
  private jitter: JitterBuffer;
  private jitterTimestamps = new SerialUnwrapper(32);
  private jitterEnd: number | undefined;
  private lastPlayed: number | undefined;
  private detector = new DtmfEventDetector();
  private recorder: WavRecorder | undefined;
  private readonly dropped = {
    wrongSource: 0,
    malformed: 0,
    unknownPayload: 0,
  };
  private receivedDtmf = 0;
  private concealed = 0;

  // rtcp
  private rtcpSession: RtcpSession | undefined;
  private rtcpSent = 0;
  private rtcpReceived = 0;
  private rttMs: number | null = null;

  private constructor(
    options: MediaOptions,
    rtp: Socket,
    rtcp: Socket,
    notify: (n: MediaNotice) => void,
  ) {
    this.options = options;
    this.rtp = rtp;
    this.rtcpSocket = rtcp;
    this.notify = notify;
    this.localAddress = options.address;
    this.localPort = rtp.address().port;
    this.source = options.play ?? silence();
    this.jitter = this.newJitterBuffer();
    const closedRtp = new Promise<void>((r) => rtp.once('close', () => r()));
    const closedRtcp = new Promise<void>((r) => rtcp.once('close', () => r()));
    this.closed = Promise.all([closedRtp, closedRtcp]).then(() => undefined);
    // A send to an unreachable port may report an error: nothing to do but keep going.
    rtp.on('error', () => undefined);
    rtcp.on('error', () => undefined);
    rtp.on('message', (msg, rinfo) => this.onRtp(msg, rinfo));
    rtcp.on('message', (msg, rinfo) => this.onRtcp(msg, rinfo));
  }

  /** Binds the sockets and opens the recorder; throws with a reason a user can act on. */
  static async open(
    options: MediaOptions,
    notify: (n: MediaNotice) => void = () => undefined,
  ): Promise<MediaSession> {
    const [rtp, rtcp] = await bindPair(options.address, options.ports);
    const session = new MediaSession(options, rtp, rtcp, notify);
    if (options.record) {
      try {
        session.recorder = new WavRecorder(options.record);
      } catch (err) {
        await session.close();
        throw new Error(
          `--record ${options.record}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    return session;
  }

  private newJitterBuffer(): JitterBuffer {
    return new JitterBuffer({
      clockRate: CLOCK_RATE,
      frameSamples: PLAYOUT_FRAME_SAMPLES,
      delayMs: this.options.jitterDelayMs ?? 300,
      concealment: 'repeat',
      capacityMs: 2000,
    });
  }

  private local(): Parameters<typeof createOffer>[0] {
    return {
      address: this.localAddress,
      port: this.localPort,
      codecs: CODECS,
      ptime: 20,
      direction: this.options.direction ?? 'sendrecv',
      username: 'trapezoid',
      sessionName: 'trapezoid',
    };
  }

  /** Our offer (RTP/SAVP with fresh keys when SRTP is on). */
  createOffer(): string {
    const local = this.local();
    if (this.options.srtp?.length) {
      this.ourCrypto = createSdesOffer(this.options.srtp).map(toSdpCrypto);
      local.crypto = this.ourCrypto;
    }
    this.localSdp = createOffer(local);
    return formatSdp(this.localSdp);
  }

  /** Our answer to the peer's offer; throws MediaNegotiationError when nothing fits (488). */
  createAnswer(offerText: string): string {
    let offer: SessionDescription;
    try {
      offer = parseSdp(offerText);
    } catch (err) {
      throw new MediaNegotiationError(
        `unreadable SDP offer: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const local = this.local();
    local.acceptCrypto = (offered) => {
      const ours = acceptSdesCrypto(offered);
      if (ours) this.ourCrypto = [ours];
      return ours;
    };
    const answer = createAnswer(offer, local);
    const audio = answer.media.find((m) => m.port !== 0);
    if (!audio) throw new MediaNegotiationError('no audio stream in common (PCMU or PCMA)');
    if (this.options.srtp?.length && !audio.proto.includes('SAVP')) {
      throw new MediaNegotiationError('SRTP required (--srtp) but the offer is plain RTP');
    }
    this.localSdp = answer;
    this.negotiate(offer);
    return formatSdp(answer);
  }

  /** Takes the peer's answer to our offer; throws MediaNegotiationError when it does not fit. */
  acceptAnswer(answerText: string): void {
    let answer: SessionDescription;
    try {
      answer = parseSdp(answerText);
    } catch (err) {
      throw new MediaNegotiationError(
        `unreadable SDP answer: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    this.negotiate(answer);
  }

  /** Whether start() ran (media flowed or was meant to). */
  get started(): boolean {
    return this.startedAt !== undefined;
  }

  /** Whether offer/answer gave us a stream. */
  get ready(): boolean {
    return this.negotiated !== undefined;
  }

  private negotiate(remote: SessionDescription): void {
    if (!this.localSdp) throw new MediaNegotiationError('no local description');
    const result = negotiateAudio(this.localSdp, remote);
    if (!result) throw new MediaNegotiationError('no audio stream in common (PCMU or PCMA)');
    const codec = result.codec.encoding.toUpperCase();
    if (codec !== 'PCMU' && codec !== 'PCMA') {
      throw new MediaNegotiationError(`codec ${result.codec.encoding} is not supported`);
    }
    const mine = this.localSdp.media[result.index]!;
    const theirs = remote.media[result.index]!;
    if (mine.proto.includes('SAVP') || theirs.proto.includes('SAVP')) {
      const ours = this.ourCrypto.find((c) => c.tag === result.remoteCrypto?.tag);
      if (!result.remoteCrypto || !ours || ours.suite !== result.remoteCrypto.suite) {
        throw new MediaNegotiationError('RTP/SAVP without a matching a=crypto line');
      }
      if (!isSrtpSuite(ours.suite)) {
        throw new MediaNegotiationError(`SRTP suite ${ours.suite} is not supported`);
      }
      // A re-INVITE with the same keys keeps the contexts (rollover counters, replay windows).
      const keys = `${ours.keyParams} ${result.remoteCrypto.keyParams}`;
      if (keys !== this.srtpKeys) {
        try {
          this.srtpOut = new SrtpContext(srtpOptionsFromSdes(ours));
          this.srtpIn = new SrtpContext(srtpOptionsFromSdes(result.remoteCrypto));
        } catch (err) {
          throw new MediaNegotiationError(err instanceof Error ? err.message : String(err));
        }
        this.srtpKeys = keys;
      }
      this.srtpSuite = ours.suite;
    } else if (this.options.srtp?.length) {
      throw new MediaNegotiationError('SRTP required (--srtp) but the answer is plain RTP');
    }
    // c=0.0.0.0 (RFC 2543 hold): nothing to send to.
    if (/^(0\.0\.0\.0|::)$/.test(result.remoteAddress)) result.send = false;
    // The packet clock keeps its ptime once started (a re-INVITE does not change it).
    if (this.startedAt === undefined) {
      this.ptime = Math.min(MAX_PTIME, Math.max(MIN_PTIME, Math.round(result.ptime / 10) * 10));
      this.samplesPerPacket = (this.ptime * CLOCK_RATE) / 1000;
    }
    this.negotiated = result;
  }

  /**
   * The peer's new description in a re-INVITE (our answer is unchanged): follows a new address,
   * port, codec or key. Throws MediaNegotiationError (the old stream is kept).
   */
  renegotiate(remoteText: string): void {
    const before = this.negotiated;
    const saved = [this.srtpOut, this.srtpIn, this.srtpKeys] as const;
    try {
      this.acceptAnswer(remoteText);
    } catch (err) {
      this.negotiated = before;
      [this.srtpOut, this.srtpIn, this.srtpKeys] = saved;
      throw err;
    }
  }

  /** What was negotiated, for the `media` event. */
  info(): MediaInfo | undefined {
    const n = this.negotiated;
    if (!n) return undefined;
    const direction =
      n.send && n.receive ? 'sendrecv' : n.send ? 'sendonly' : n.receive ? 'recvonly' : 'inactive';
    return {
      codec: n.codec.encoding.toUpperCase(),
      payloadType: n.codec.payloadType,
      telephoneEvent: n.telephoneEvent?.payloadType ?? null,
      ptime: this.ptime,
      direction,
      srtp: this.srtpSuite,
      local: formatHostPort(this.localAddress, this.localPort),
      remote: formatHostPort(n.remoteAddress, n.remotePort),
    };
  }

  /** Starts sending, playout and RTCP (after the answer). Idempotent. */
  start(): void {
    if (!this.negotiated || this.startedAt !== undefined || this.stoppedStats) return;
    this.startedAt = performance.now();
    this.rtcpSession = new RtcpSession({
      ssrc: this.ssrc,
      cname: this.options.cname,
      clockRate: CLOCK_RATE,
      startMs: Date.now(),
      intervalSeconds: this.options.rtcpIntervalSeconds,
    });
    for (const [ssrc, s] of this.incoming) this.rtcpSession.addSource(ssrc, s.stats);
    if (this.options.dtmf && this.negotiated.telephoneEvent && this.negotiated.send) {
      this.dtmfSender = new TelephoneEventSender({ samplesPerPacket: this.samplesPerPacket });
      this.dtmfSender.send(this.options.dtmf);
      this.dtmfStartAt = this.startedAt + (this.options.dtmfDelayMs ?? 1000);
    }
    this.tick();
  }

  private schedule(): void {
    const next = this.startedAt! + this.ticks * this.ptime;
    this.timer = setTimeout(() => this.tick(), Math.max(0, next - performance.now()));
  }

  private tick(): void {
    this.timer = undefined;
    if (this.stoppedStats || this.startedAt === undefined) return;
    const now = performance.now();
    let burst = 0;
    while (this.startedAt + this.ticks * this.ptime <= now && burst < MAX_BURST) {
      if (this.negotiated?.send) this.sendPacket(now);
      else this.source.next(this.samplesPerPacket);
      this.ticks++;
      burst++;
    }
    const due = Math.floor((now - this.startedAt) / PLAYOUT_FRAME_MS);
    while (this.playoutFrames < due) {
      this.playOut(now);
      this.playoutFrames++;
    }
    const wall = Date.now();
    if (this.rtcpSession?.due(wall)) this.sendRtcp(this.rtcpSession.report(wall));
    this.schedule();
  }

  private sendPacket(now: number): void {
    const n = this.negotiated!;
    const frame = this.source.next(this.samplesPerPacket);
    const event =
      this.dtmfSender && now >= this.dtmfStartAt ? this.dtmfSender.tick(this.timestamp) : undefined;
    let packet: RtpPacket;
    if (event && n.telephoneEvent) {
      if (event.marker) this.notify({ event: 'dtmf-sent', digit: event.digit });
      if (event.ended) this.sentDtmf++;
      packet = new RtpPacket({
        payloadType: n.telephoneEvent.payloadType,
        sequenceNumber: this.sequence,
        timestamp: event.timestamp,
        ssrc: this.ssrc,
        marker: event.marker,
        payload: event.payload,
      });
    } else {
      packet = new RtpPacket({
        payloadType: n.codec.payloadType,
        sequenceNumber: this.sequence,
        timestamp: this.timestamp,
        ssrc: this.ssrc,
        marker: !this.firstAudioSent,
        payload: g711Encode(n.codec.encoding.toUpperCase() as 'PCMU' | 'PCMA', frame),
      });
      this.firstAudioSent = true;
    }
    this.sequence = (this.sequence + 1) & 0xffff;
    const plain = packet.marshal();
    const wire = this.srtpOut ? this.srtpOut.protect(plain) : plain;
    this.rtp.send(wire, n.remotePort, n.remoteAddress);
    this.rtcpSession?.rtpSent(packet.payload.length, packet.timestamp, Date.now());
    this.sentPackets++;
    this.sentOctets += packet.payload.length;
    this.timestamp = (this.timestamp + this.samplesPerPacket) >>> 0;
  }

  private sendRtcp(compound: Buffer): void {
    const n = this.negotiated;
    if (!n) return;
    const wire = this.srtpOut ? this.srtpOut.protectRtcp(compound) : compound;
    this.rtcpSocket.send(wire, n.remoteRtcpPort, n.remoteAddress);
    this.rtcpSent++;
  }

  private playOut(now: number): void {
    const frame = this.jitter.pop(now);
    if (!frame) return;
    this.lastPlayed = frame.timestamp + frame.samples.length;
    this.recorder?.write(frame.samples);
  }

  /** Plays out everything still buffered (end of call, or before switching source). */
  private drain(): void {
    if (this.jitterEnd === undefined) return;
    for (let guard = 0; guard < 1000; guard++) {
      if (this.lastPlayed !== undefined && this.lastPlayed >= this.jitterEnd) break;
      const frame = this.jitter.pop(Number.POSITIVE_INFINITY);
      if (!frame) break;
      this.lastPlayed = frame.timestamp + frame.samples.length;
      this.recorder?.write(frame.samples);
    }
  }

  private onRtp(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.stoppedStats) return;
    const n = this.negotiated;
    if (!n || rinfo.port !== n.remotePort || !sameHost(rinfo.address, n.remoteAddress)) {
      this.dropped.wrongSource++;
      return;
    }
    if (msg.length > MAX_DATAGRAM) {
      this.dropped.malformed++;
      return;
    }
    let plain = msg;
    if (this.srtpIn) {
      const result = this.srtpIn.unprotect(msg);
      if (isSrtpDrop(result)) return; // counted in srtpIn.stats
      plain = result;
    }
    const h = parseRtpHeader(plain);
    if (!h) {
      this.dropped.malformed++;
      return;
    }
    const payload = plain.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength);
    const pt = h.payloadType;
    const isAudio = pt === n.codec.payloadType;
    const isEvent = n.telephoneEvent !== undefined && pt === n.telephoneEvent.payloadType;
    if (!isAudio && !isEvent && pt !== COMFORT_NOISE_PT) {
      this.dropped.unknownPayload++;
      return;
    }
    const now = performance.now();
    const stream = this.streamFor(h.ssrc);
    if (!stream) {
      this.dropped.wrongSource++;
      return;
    }
    stream.stats.update(h.sequenceNumber, h.timestamp, now / 1000, pt, h.marker);
    if (isAudio) {
      const samples = g711Decode(n.codec.encoding.toUpperCase() as 'PCMU' | 'PCMA', payload);
      const start = this.jitterTimestamps.unwrap(h.timestamp);
      this.jitterEnd = Math.max(this.jitterEnd ?? 0, start + samples.length);
      this.jitter.push(h.timestamp, samples, now);
    } else if (isEvent) {
      for (const d of this.detector.push(h.timestamp, payload, h.marker)) this.reportDigit(d);
    }
  }

  private reportDigit(d: { digit?: string; duration: number }): void {
    if (d.digit === undefined) return;
    this.receivedDtmf++;
    this.notify({
      event: 'dtmf',
      digit: d.digit,
      durationMs: Math.round((d.duration * 1000) / CLOCK_RATE),
    });
  }

  /** The statistics of a source; a new SSRC restarts playout and DTMF detection. */
  private streamFor(ssrc: number): Incoming | undefined {
    let stream = this.incoming.get(ssrc);
    if (!stream) {
      if (this.incoming.size >= MAX_SOURCES) return undefined;
      const te = this.negotiated?.telephoneEvent?.payloadType;
      const rates = te === undefined ? {} : { [te]: 0 };
      stream = { stats: new RtpStreamStats(CLOCK_RATE, { payloadClockRates: rates }) };
      this.incoming.set(ssrc, stream);
      this.rtcpSession?.addSource(ssrc, stream.stats);
    }
    if (this.currentSsrc !== undefined && this.currentSsrc !== ssrc) {
      this.drain();
      this.concealed += this.jitter.stats().concealed;
      this.jitter = this.newJitterBuffer();
      this.jitterTimestamps = new SerialUnwrapper(32);
      this.jitterEnd = undefined;
      this.lastPlayed = undefined;
      for (const d of this.detector.flush()) this.reportDigit(d);
      this.detector = new DtmfEventDetector();
    }
    this.currentSsrc = ssrc;
    return stream;
  }

  private onRtcp(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.stoppedStats) return;
    const n = this.negotiated;
    if (!n || rinfo.port !== n.remoteRtcpPort || !sameHost(rinfo.address, n.remoteAddress)) return;
    let plain = msg;
    if (this.srtpIn) {
      const result = this.srtpIn.unprotectRtcp(msg);
      if (isSrtpDrop(result)) return;
      plain = result;
    }
    let packets;
    try {
      packets = parseRtcp(plain);
    } catch {
      return; // not RTCP: ignored
    }
    this.rtcpReceived++;
    const nowMs = Date.now();
    this.rtcpSession?.rtcpReceived(packets, nowMs);
    // RFC 3550 6.4.1: round trip = now - LSR - DLSR, in 1/65536 s, from a block about us.
    for (const p of packets) {
      if (p.type !== 'sr' && p.type !== 'rr') continue;
      for (const block of p.reports) {
        if (block.ssrc !== this.ssrc || block.lastSr === 0) continue;
        const now32 = ntpMiddle32(ntpFromUnixMs(nowMs));
        const rtt = (now32 - block.lastSr - block.delaySinceLastSr) >>> 0;
        if (rtt < 0x80000000) this.rttMs = Math.round((rtt / 65536) * 1000 * 10) / 10;
      }
    }
  }

  /** Stops sending, sends an RTCP BYE, writes the recording; returns the figures. Idempotent. */
  stop(): MediaStats {
    if (this.stoppedStats) return this.stoppedStats;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.rtcpSession && this.negotiated) {
      this.sendRtcp(this.rtcpSession.bye(Date.now()));
    }
    this.drain();
    for (const d of this.detector.flush()) this.reportDigit(d);
    let recordedSeconds: number | null = null;
    if (this.recorder) {
      this.recorder.close();
      recordedSeconds = this.recorder.samples / CLOCK_RATE;
    }
    this.stoppedStats = this.figures(recordedSeconds);
    void this.close();
    return this.stoppedStats;
  }

  private figures(recordedSeconds: number | null): MediaStats {
    let packets = 0;
    let expected = 0;
    let lost = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    let jitterMs = 0;
    let most = -1;
    for (const { stats } of this.incoming.values()) {
      const s = stats.snapshot();
      packets += s.packets;
      expected += s.rfcExpected;
      lost += Math.max(0, s.rfcLost);
      duplicates += s.duplicates;
      outOfOrder += s.outOfOrder;
      if (s.packets > most) {
        most = s.packets;
        jitterMs = (s.rfcJitter * 1000) / CLOCK_RATE;
      }
    }
    const jb = this.jitter.stats();
    const lostPercent = expected > 0 ? (lost * 100) / expected : 0;
    const codec = this.negotiated?.codec.encoding.toUpperCase() ?? 'none';
    const mos =
      packets > 0 && (codec === 'PCMU' || codec === 'PCMA')
        ? estimateMos({ codec, lossPct: lostPercent, jitterMs, ptimeMs: this.ptime }).mos
        : null;
    const srtp = this.srtpIn?.stats;
    const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
    return {
      codec,
      srtp: this.srtpSuite,
      durationSeconds:
        this.startedAt === undefined ? 0 : round((performance.now() - this.startedAt) / 1000, 3),
      sent: { packets: this.sentPackets, octets: this.sentOctets, dtmf: this.sentDtmf },
      received: {
        packets,
        expected,
        lost,
        lostPercent: round(lostPercent, 2),
        jitterMs: round(jitterMs, 3),
        duplicates,
        outOfOrder,
        late: jb.late,
        concealed: this.concealed + jb.concealed,
        dtmf: this.receivedDtmf,
      },
      dropped: {
        ...this.dropped,
        malformed: this.dropped.malformed + (srtp?.malformed ?? 0),
        authFailures: srtp?.authFailures ?? 0,
        replayed: srtp?.replayed ?? 0,
        tooOld: srtp?.tooOld ?? 0,
      },
      rtcp: { sent: this.rtcpSent, received: this.rtcpReceived, rttMs: this.rttMs },
      mos: mos === null ? null : round(mos, 2),
      recordedSeconds: recordedSeconds === null ? null : round(recordedSeconds, 3),
    };
  }

  /** Closes the sockets (after a BYE has been handed to the kernel) and the recorder. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.recorder?.close();
    // A send queued just before close is still written: close in the next turn.
    await new Promise((r) => setImmediate(r));
    await Promise.all([closeSocket(this.rtp), closeSocket(this.rtcpSocket)]);
    await this.closed;
  }
}
