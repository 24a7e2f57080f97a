// The softphone: registers, places or answers calls, sends and records audio (G.711 over RTP or
// SRTP), sends and detects RFC 4733 DTMF, hangs up after a while, and reports each step as an
// event (a line of text, or with --json one JSON object per line).
//
// JSON events (stable: scripts and other tests read them; fields are only ever added):
//   {"event":"listening","address","port","transport"}
//   {"event":"registered","expires","status"}          {"event":"unregistered","status"}
//   {"event":"incoming","callId","from"}               {"event":"ringing","callId","status"}
//   {"event":"answered","callId","status"}
//   {"event":"media","callId","codec":"PCMU"|"PCMA","payloadType","telephoneEvent":101|null,
//     "ptime","direction","srtp":"AES_CM_128_HMAC_SHA1_80"|...|null,"local":"ip:port",
//     "remote":"ip:port"}                             once offer/answer gave an audio stream
//   {"event":"dtmf","callId","digit":"1","durationMs":100}     an RFC 4733 digit received
//   {"event":"dtmf-sent","callId","digit":"1"}                 we started sending a digit
//   {"event":"stats","callId", ...MediaStats}          at the end of a call that had media, just
//     before "ended":
//     codec, srtp (suite or null), durationSeconds (since media started),
//     sent {packets, octets (payload), dtmf (digits)},
//     received {packets (accepted RTP, all payload types), expected, lost (RFC 3550 cumulative,
//       >= 0), lostPercent, jitterMs (RFC 3550 interarrival jitter), duplicates, outOfOrder,
//       late (jitter buffer: arrived after their playout), concealed (frames filled in),
//       dtmf (digits detected)},
//     dropped {wrongSource (RTP not from the address:port of the peer's SDP), malformed,
//       unknownPayload (payload type not negotiated), authFailures (SRTP tag wrong), replayed
//       (SRTP index already received), tooOld (SRTP index behind the 128-packet window)},
//     rtcp {sent, received (compound packets), rttMs (from LSR/DLSR, or null)},
//     mos (G.107 E-model estimate from loss and jitter, or null with nothing received),
//     recordedSeconds (audio written with --record, or null)
//   {"event":"ended","callId","status","reason","by"}
//   {"event":"error","message","status"?}
//
// DTMF timing: --dtmf digits start 1 s after the answer (--dtmf-delay), each tone 100 ms, then
// its end packet three times, then 100 ms of audio before the next digit.
import { readFileSync } from 'node:fs';
import {
  Call,
  CallFailedError,
  parseEndpoint,
  RegistrationError,
  UserAgent,
  type IncomingCall,
} from '../ua/index.ts';
import type { TransportName } from '../ua/index.ts';
import { isSrtpSuite, SRTP_SUITES, type Direction, type SrtpSuite } from '../media/index.ts';
import { parseUri, SipParseError } from '../sip/index.ts';
import type { Endpoint } from '../transport/index.ts';
import { openAudioSource, PlayError, type AudioSource } from './audio-source.ts';
import {
  diagnoseConnection,
  hintFor,
  watchUdpServers,
  type ServerCheck,
  type HintContext,
} from './diagnosis.ts';
import {
  MediaNegotiationError,
  MediaSession,
  type MediaInfo,
  type MediaNotice,
  type MediaStats,
} from './media-session.ts';

export interface PhoneOptions {
  /** Registrar / outbound proxy 'HOST[:PORT]'; none: calls go straight to the URI's host. */
  server?: string;
  user?: string;
  password?: string;
  domain?: string;
  /** URI (or user in our domain) to call. */
  call?: string;
  /** Answer incoming calls. */
  answer?: boolean;
  /** 'udp:ADDR:PORT' to listen on. */
  listen?: string;
  transport: TransportName;
  /** Seconds after the answer to hang up; none: wait for the peer. */
  hangupAfter?: number;
  /** Answer mode: stop after this many calls have ended. */
  calls?: number;
  /** Give up an unanswered outgoing call after this many seconds (CANCEL). */
  timeout?: number;
  /** Registration expiry asked for, in seconds. */
  expires?: number;
  json: boolean;
  /** What to send: a WAV file or 'tone:HZ'; silence when absent. */
  play?: string;
  /** WAV file for what is received (further calls: FILE-2.wav, FILE-3.wav, ...). */
  record?: string;
  /** DTMF digits to send after the answer. */
  dtmf?: string;
  /** Milliseconds after the answer before the first digit (default 1000). */
  dtmfDelayMs?: number;
  /** SRTP: true for the default suites, or the one suite to offer. */
  srtp?: boolean | string;
  /** RTP port range 'LOW-HIGH' (even RTP port, RTCP the next one). */
  rtpPorts?: string;
  /** Media direction we ask for (default sendrecv). */
  direction?: Direction;
  /** PEM file of the CA (or self-signed certificate) that TLS servers must present. */
  tlsCa?: string;
  /** PEM certificate and key files, to listen on TLS (`--answer --transport tls`). */
  tlsCert?: string;
  tlsKey?: string;
}

export type PhoneEvent =
  | { event: 'listening'; address: string; port: number; transport: string }
  | { event: 'registered'; expires: number; status: number }
  | { event: 'unregistered'; status: number }
  | { event: 'incoming'; callId: string; from: string }
  | { event: 'ringing'; callId: string; status: number }
  | { event: 'answered'; callId: string; status: number }
  | ({ event: 'media'; callId: string } & MediaInfo)
  | ({ callId: string } & MediaNotice)
  | ({ event: 'stats'; callId: string } & MediaStats)
  | { event: 'ended'; callId: string; status: number; reason: string; by: string }
  | { event: 'error'; message: string; status?: number };

function describe(e: PhoneEvent): string {
  switch (e.event) {
    case 'listening':
      return `listening on ${e.transport}:${e.address}:${e.port}`;
    case 'registered':
      return `registered (${e.status}), expires in ${e.expires} s`;
    case 'unregistered':
      return `unregistered (${e.status})`;
    case 'incoming':
      return `incoming call from ${e.from}`;
    case 'ringing':
      return `ringing (${e.status})`;
    case 'answered':
      return `answered (${e.status})`;
    case 'ended':
      return `call ended: ${e.status} ${e.reason}, hung up by ${e.by}`;
    case 'media':
      return `media ${e.codec}${e.srtp ? ` (SRTP ${e.srtp})` : ''} ${e.local} <-> ${e.remote} ${e.direction}`;
    case 'dtmf':
      return `dtmf ${e.digit} received (${e.durationMs} ms)`;
    case 'dtmf-sent':
      return `dtmf ${e.digit} sent`;
    case 'stats':
      return (
        `stats: sent ${e.sent.packets}, received ${e.received.packets}, lost ${e.received.lost}` +
        ` (${e.received.lostPercent}%), jitter ${e.received.jitterMs} ms, MOS ${e.mos ?? '-'}` +
        `, dropped ${e.dropped.wrongSource} wrong source, ${e.dropped.authFailures} auth,` +
        ` ${e.dropped.replayed + e.dropped.tooOld} replayed`
      );
    case 'error':
      return `error: ${e.message}`;
  }
}

/** After the last of --calls N ended: time left to absorb retransmissions (T1 + 2T1 + 4T1...). */
const LINGER_MS = 2000;

/**
 * `--server HOST[:PORT]` ([v6] in brackets): its host and port. Throws PhoneSetupError naming
 * the problem (the CLI turns it into a usage error).
 */
export function parseServer(spec: string): { host: string; port?: number } {
  const named = /^(udp|tcp|tls|ws|wss):/i.exec(spec);
  if (named) {
    const reason = `give the transport with --transport ${named[1].toLowerCase()}, not in --server`;
    throw new PhoneSetupError(`--server ${spec}: ${reason}`, reason);
  }
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]@;]+)(?::([^:]*))?$/.exec(spec.trim());
  if (!m)
    throw new PhoneSetupError(
      `--server ${spec}: expected HOST or HOST:PORT`,
      'expected HOST or HOST:PORT',
    );
  if (m[2] === undefined) return { host: m[1] };
  const port = Number(m[2]);
  if (!/^\d+$/.test(m[2]) || port < 1 || port > 65535) {
    const reason = 'the port must be a number from 1 to 65535';
    throw new PhoneSetupError(`--server ${spec}: ${reason}`, reason);
  }
  return { host: m[1], port };
}

/**
 * `--call sip:USER@HOST[:PORT]` (or USER@HOST, or a bare USER in our domain): a URI the phone can
 * send to, its port from 1 to 65535. Throws PhoneSetupError with the parser's reason.
 */
export function parseCall(spec: string): void {
  const text = spec.trim();
  if (!/^(sips?|tel):/i.test(text) && !text.includes('@')) return; // a user in our domain
  let port: number | undefined;
  try {
    port = parseUri(/^(sips?|tel):/i.test(text) ? text : `sip:${text}`).port;
  } catch (err) {
    if (!(err instanceof SipParseError)) throw err;
    throw new PhoneSetupError(`--call ${spec}: ${err.reason}`, err.reason);
  }
  if (port !== undefined && (port < 1 || port > 65535)) {
    const reason = 'the port must be a number from 1 to 65535';
    throw new PhoneSetupError(`--call ${spec}: ${reason}`, reason);
  }
}

/** `--listen [udp|tcp|tls|ws:]ADDR[:PORT]` (port 0: any); throws PhoneSetupError. */
export function parseListen(spec: string): void {
  let port: number;
  try {
    port = parseEndpoint(spec).port;
  } catch {
    const reason = 'expected udp:ADDRESS:PORT (or tcp:, tls:, ws:)';
    throw new PhoneSetupError(`--listen ${spec}: ${reason}`, reason);
  }
  if (port > 65535) {
    const reason = 'the port must be a number from 0 (any) to 65535';
    throw new PhoneSetupError(`--listen ${spec}: ${reason}`, reason);
  }
}

/** `--rtp-ports LOW-HIGH`; throws PhoneSetupError (a usage error in the CLI). */
export function parsePorts(spec: string | undefined): { low: number; high: number } | undefined {
  if (spec === undefined) return undefined;
  const m = /^(\d+)-(\d+)$/.exec(spec);
  const low = Number(m?.[1]);
  const high = Number(m?.[2]);
  if (!m || low < 1024 || high > 65535 || high - low < 1) {
    const reason = 'expected LOW-HIGH within 1024-65535';
    throw new PhoneSetupError(`--rtp-ports ${spec}: ${reason}`, reason);
  }
  return { low, high };
}

function srtpSuites(srtp: boolean | string | undefined): SrtpSuite[] | undefined {
  if (srtp === undefined || srtp === false) return undefined;
  if (srtp === true) return [...SRTP_SUITES];
  if (!isSrtpSuite(srtp)) {
    throw new PhoneSetupError(`--srtp ${srtp}: expected one of ${SRTP_SUITES.join(', ')}`);
  }
  return [srtp];
}

/** A flag whose value cannot be used: reported as an error event, exit 1. */
function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new PhoneSetupError(`${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

/** --tls-cert and --tls-key go together: a certificate to listen on TLS with. */
function tlsFiles(opts: PhoneOptions): { key: Buffer; cert: Buffer } | undefined {
  if (!opts.tlsCert && !opts.tlsKey) return undefined;
  if (!opts.tlsCert || !opts.tlsKey) {
    throw new PhoneSetupError('--tls-cert and --tls-key go together');
  }
  return { cert: readPem(opts.tlsCert, '--tls-cert'), key: readPem(opts.tlsKey, '--tls-key') };
}

/** A flag whose value cannot be used: `message` names the flag, `reason` alone does not. */
export class PhoneSetupError extends Error {
  override name = 'PhoneSetupError';
  readonly reason: string;
  constructor(message: string, reason?: string) {
    super(message);
    this.reason = reason ?? message;
  }
}

/** The server's host answered "port unreachable": nothing listens there. */
class ServerUnreachableError extends Error {
  override name = 'ServerUnreachableError';
}

/** --server names a host with no address (DNS, then the system resolver). */
function noAddress(spec: string, host: string): string {
  return (
    `--server ${spec}: no address found for "${host}" ` +
    '(no NAPTR, SRV, A or AAAA record in DNS, and the system resolver and /etc/hosts know none)'
  );
}

/** FILE.wav for the first call, FILE-2.wav for the second, ... */
function recordPath(path: string, n: number): string {
  if (n <= 1) return path;
  const dot = path.lastIndexOf('.');
  const slash = path.lastIndexOf('/');
  return dot > slash ? `${path.slice(0, dot)}-${n}${path.slice(dot)}` : `${path}-${n}`;
}

/** Runs the phone until its work is done; resolves with the exit code (0 success, 1 failure). */
export async function runPhone(
  opts: PhoneOptions,
  out: (line: string) => void,
  signal?: AbortSignal,
): Promise<number> {
  const report = (e: PhoneEvent) => out(opts.json ? JSON.stringify(e) : describe(e));
  const callHost = opts.call && /@([^;>:]+|\[[^\]]+\])/.exec(opts.call)?.[1];
  let server: { host: string; port?: number } | undefined;
  try {
    server = opts.server !== undefined ? parseServer(opts.server) : undefined;
    if (opts.listen !== undefined) parseListen(opts.listen);
    if (opts.call !== undefined) parseCall(opts.call);
  } catch (err) {
    if (!(err instanceof PhoneSetupError)) throw err;
    report({ event: 'error', message: err.message });
    return 1;
  }
  const domain = opts.domain ?? server?.host ?? callHost ?? '127.0.0.1';
  const user = opts.user ?? 'trapezoid';
  const listen =
    opts.listen ??
    (opts.answer && !opts.server
      ? `${opts.transport}:127.0.0.1:5060`
      : `${opts.transport}:127.0.0.1:0`);
  let ports: { low: number; high: number } | undefined;
  let suites: SrtpSuite[] | undefined;
  try {
    ports = parsePorts(opts.rtpPorts);
    suites = srtpSuites(opts.srtp);
    // Check the file now rather than at the first call.
    if (opts.play) await openAudioSource(opts.play);
    if (opts.dtmf !== undefined && !/^[0-9*#A-Da-d]+$/.test(opts.dtmf)) {
      throw new PhoneSetupError(`--dtmf ${opts.dtmf}: digits are 0-9, *, #, A-D`);
    }
  } catch (err) {
    if (!(err instanceof PhoneSetupError || err instanceof PlayError)) throw err;
    report({ event: 'error', message: err.message });
    return 1;
  }
  let tls: { key: Buffer; cert: Buffer } | undefined;
  let tlsCa: Buffer | undefined;
  try {
    tls = tlsFiles(opts);
    tlsCa = opts.tlsCa ? readPem(opts.tlsCa, '--tls-ca') : undefined;
  } catch (err) {
    if (!(err instanceof PhoneSetupError)) throw err;
    report({ event: 'error', message: err.message });
    return 1;
  }
  const hints: HintContext = {
    domain,
    domainGiven: opts.domain !== undefined,
    user,
    passwordGiven: opts.password !== undefined,
  };
  const tlsTrust = tlsCa && opts.tlsCa ? { tlsCa: { path: opts.tlsCa, pem: tlsCa } } : {};
  /** The flags that named the server (for "no SIP server at ...: check them"). */
  const serverCheck: ServerCheck = {
    ...tlsTrust,
    named: opts.server
      ? `--server ${opts.server} and --transport ${opts.transport}`
      : `the host and port of --call ${opts.call ?? ''} and --transport ${opts.transport}`,
  };
  /**
   * A failed request's error, said so the user knows what to do: for a 408/503 that no server
   * sent (the connection failed), why the connection fails in place of the status; otherwise
   * the status with a hint on the flag to change, when there is one.
   */
  const explain = async (
    err: RegistrationError | CallFailedError,
    target: Endpoint,
  ): Promise<string> => {
    const what = err instanceof RegistrationError ? 'registration failed' : 'call failed';
    if (err.status === 408 || err.status === 503) {
      const problem = await diagnoseConnection(target, serverCheck);
      if (problem) return `${what}: ${problem}`;
    }
    const hint = hintFor(err.status, err.reason, hints);
    return hint ? `${err.message}: ${hint}` : err.message;
  };
  /** The servers a request goes to, watched for "port unreachable" when all of them are UDP. */
  const watchUdp = (targets: Endpoint[]) =>
    targets.length > 0 && targets.every((t) => t.protocol === 'udp')
      ? watchUdpServers(targets, serverCheck)
      : undefined;
  let ua: UserAgent;
  try {
    ua = new UserAgent({
      uri: `sip:${user}@${domain}`,
      username: user,
      password: opts.password,
      server: opts.server ? `${opts.transport}:${opts.server}` : undefined,
      transport: opts.transport,
      listen,
      registerExpires: opts.expires,
      ...(tls ? { tls } : {}),
      ...(tlsCa ? { tlsClient: { ca: tlsCa } } : {}),
    });
  } catch (err) {
    report({ event: 'error', message: err instanceof Error ? err.message : String(err) });
    return 1;
  }
  let code = 0;
  const calls = new Set<Call>();
  const medias = new Set<MediaSession>();
  let mediaCount = 0;
  let stopping = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let mediaAddress = '127.0.0.1';

  /** Binds the media of a new call; reports and returns undefined when it cannot. */
  const openMedia = async (callId: () => string): Promise<MediaSession | undefined> => {
    let play: AudioSource | undefined;
    try {
      if (opts.play) play = await openAudioSource(opts.play);
      mediaCount += 1;
      const media = await MediaSession.open(
        {
          address: mediaAddress,
          ports,
          cname: `${user}@${domain}`,
          play,
          record: opts.record ? recordPath(opts.record, mediaCount) : undefined,
          dtmf: opts.dtmf,
          dtmfDelayMs: opts.dtmfDelayMs,
          srtp: suites,
          direction: opts.direction,
        },
        (notice) => report({ ...notice, callId: callId() }),
      );
      medias.add(media);
      return media;
    } catch (err) {
      report({ event: 'error', message: err instanceof Error ? err.message : String(err) });
      return undefined;
    }
  };

  let mediaFailed = false;
  /** Follows a call's events; `box.media` may be filled in later (answer side). */
  const follow = (call: Call, box: { media?: MediaSession }) => {
    calls.add(call);
    let timer: NodeJS.Timeout | undefined;
    call.on('ringing', (res) =>
      report({ event: 'ringing', callId: call.callId, status: res.status }),
    );
    call.on('answered', () => {
      report({ event: 'answered', callId: call.callId, status: 200 });
      const media = box.media;
      if (media && !media.ready && call.remoteBody) {
        // Our offer's answer (in the 2xx, or in the ACK after an offerless INVITE).
        try {
          media.acceptAnswer(call.remoteBody.toString('utf8'));
        } catch (err) {
          if (!(err instanceof MediaNegotiationError)) throw err;
          report({ event: 'error', message: `media: ${err.message}` });
          mediaFailed = true;
          void call.hangup().catch(() => undefined);
          return;
        }
      }
      if (media && !media.ready && call.direction === 'outgoing') {
        // (A caller that sent no offer and no answer in its ACK just gets no media.)
        report({ event: 'error', message: 'media: the 200 carries no SDP answer: no audio' });
      }
      const info = media?.info();
      if (media && info) {
        report({ event: 'media', callId: call.callId, ...info });
        media.start();
      }
      if (opts.hangupAfter !== undefined) {
        timer = setTimeout(
          () => void call.hangup().catch(() => undefined),
          opts.hangupAfter * 1000,
        );
      }
    });
    call.on('reinvite', () => {
      // The peer moved or changed its stream (hold, a new relay port, new keys); we answered
      // with our session unchanged.
      const media = box.media;
      if (!media?.ready || !call.remoteBody) return;
      try {
        media.renegotiate(call.remoteBody.toString('utf8'));
        const info = media.info();
        if (info) report({ event: 'media', callId: call.callId, ...info });
      } catch (err) {
        if (!(err instanceof MediaNegotiationError)) throw err;
        report({ event: 'error', message: `media: re-INVITE: ${err.message}` });
      }
    });
    call.on('ended', (end) => {
      if (timer) clearTimeout(timer);
      calls.delete(call);
      const media = box.media;
      if (media) {
        const stats = media.stop();
        if (media.started) report({ event: 'stats', callId: call.callId, ...stats });
        void media.close().finally(() => medias.delete(media));
      }
      report({
        event: 'ended',
        callId: call.callId,
        status: end.status,
        reason: end.reason,
        by: end.by,
      });
    });
  };

  try {
    await ua.start();
    const local = ua.listening.find(
      (e) => e.protocol === (opts.transport === 'tcp' ? 'tcp' : 'udp'),
    );
    if (local)
      report({
        event: 'listening',
        address: local.address,
        port: local.port,
        transport: local.protocol,
      });
    mediaAddress =
      local && local.address !== '0.0.0.0' && local.address !== '::' ? local.address : '127.0.0.1';

    if (opts.server) {
      // Where the REGISTER goes: a server that cannot be found or reached is named as such.
      const where = await ua.destinationsFor().catch(() => [] as Endpoint[]);
      if (where.length === 0) {
        report({ event: 'error', message: noAddress(opts.server, server?.host ?? opts.server) });
        return 1;
      }
      // Every successful REGISTER (the first and each refresh) is reported.
      ua.on('registered', (r) =>
        report({ event: 'registered', expires: r.expires, status: r.response.status }),
      );
      const watch = watchUdp(where);
      try {
        const refused = watch?.unreachable.then((message) =>
          Promise.reject(new ServerUnreachableError(message)),
        );
        await Promise.race(refused ? [ua.register(), refused] : [ua.register()]);
        ua.on('registrationFailed', (res) =>
          report({
            event: 'error',
            message: `registration refresh failed: ${res.status} ${res.reason}`,
            status: res.status,
          }),
        );
      } catch (err) {
        if (!(err instanceof RegistrationError)) {
          report({ event: 'error', message: err instanceof Error ? err.message : String(err) });
          return 1;
        }
        report({ event: 'error', message: await explain(err, where[0]), status: err.status });
        return 1;
      } finally {
        watch?.close();
      }
    }

    if (opts.answer) {
      let ended = 0;
      const answer = async (incoming: IncomingCall) => {
        report({ event: 'incoming', callId: incoming.callId, from: incoming.from });
        const box: { media?: MediaSession } = {};
        follow(incoming, box);
        incoming.ring();
        const media = await openMedia(() => incoming.callId);
        if (!media) {
          incoming.reject(500, 'Media Unavailable');
          return;
        }
        if (incoming.state === 'ended') {
          // CANCELled while the sockets were being bound.
          media.stop();
          await media.close();
          medias.delete(media);
          return;
        }
        box.media = media;
        let body: string;
        if (incoming.remoteBody && incoming.remoteBody.length > 0) {
          try {
            body = media.createAnswer(incoming.remoteBody.toString('utf8'));
          } catch (err) {
            if (!(err instanceof MediaNegotiationError)) throw err;
            report({ event: 'error', message: `media: ${err.message}` });
            incoming.reject(488, 'Not Acceptable Here');
            return;
          }
        } else {
          body = media.createOffer(); // no offer in the INVITE: ours goes in the 200, theirs in the ACK
        }
        void incoming.accept({ body });
      };
      ua.on('invite', (incoming: IncomingCall) => {
        if (stopping) {
          incoming.reject(480);
          return;
        }
        incoming.on('ended', () => {
          ended += 1;
          if (opts.calls !== undefined && ended >= opts.calls) resolveDone();
        });
        void answer(incoming).catch((err: unknown) => {
          report({ event: 'error', message: err instanceof Error ? err.message : String(err) });
          incoming.reject(500);
        });
      });
      signal?.addEventListener('abort', () => resolveDone(), { once: true });
      await done;
      if (opts.calls !== undefined && !signal?.aborted) {
        // Like SIPp's timewait: stay a moment to answer retransmitted BYEs whose 200 was lost.
        await new Promise((r) => setTimeout(r, LINGER_MS));
      }
    } else if (opts.call) {
      let outgoing: Call | undefined;
      let giveUp: NodeJS.Timeout | undefined;
      let forced: NodeJS.Timeout | undefined;
      const onAbort = () => {
        void outgoing?.hangup().catch(() => undefined);
        // Still unanswered a second later (no provisional response to CANCEL): give up.
        forced = setTimeout(() => outgoing?.abort(), 1000);
        forced.unref();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const media = await openMedia(() => outgoing?.callId ?? '');
      if (!media) return 1;
      // Where the INVITE goes (the --server proxy, or the URI's host): watched while unanswered.
      const targets = await ua.destinationsFor(opts.call).catch(() => [] as Endpoint[]);
      const where = targets[0];
      const watch = watchUdp(targets);
      void watch?.unreachable.then((message) => {
        report({ event: 'error', message });
        outgoing?.abort();
      });
      try {
        const call = await ua.invite(opts.call, {
          body: media.createOffer(),
          onCall: (c) => {
            outgoing = c;
            c.once('progress', () => watch?.close());
            follow(c, { media });
            if (opts.timeout !== undefined) {
              giveUp = setTimeout(() => {
                void c.cancel();
                // No provisional response to CANCEL after a second more: drop the INVITE.
                giveUp = setTimeout(() => c.abort(), 1000);
              }, opts.timeout * 1000);
            }
          },
        });
        if (giveUp) clearTimeout(giveUp);
        await call.whenEnded();
        if (mediaFailed) code = 1; // answered with an answer we could not use: hung up
      } catch (err) {
        if (giveUp) clearTimeout(giveUp);
        watch?.close();
        if (!(err instanceof CallFailedError)) {
          report({ event: 'error', message: err instanceof Error ? err.message : String(err) });
        } else if (where) {
          // The call's "ended" event gave the status; say what to do about it when we can tell.
          const message = await explain(err, where);
          if (message !== err.message) report({ event: 'error', message, status: err.status });
        }
        code = 1;
      } finally {
        watch?.close();
        if (forced) clearTimeout(forced);
        signal?.removeEventListener('abort', onAbort);
        media.stop();
        await media.close();
      }
    } else if (opts.server) {
      // Registration check only: register, then remove the binding.
      const res = await ua.unregister();
      if (res) report({ event: 'unregistered', status: res.status });
    }
    return code;
  } catch (err) {
    report({ event: 'error', message: err instanceof Error ? err.message : String(err) });
    return 1;
  } finally {
    stopping = true;
    await Promise.all([...calls].map((c) => c.hangup().catch(() => undefined)));
    for (const media of medias) media.stop();
    await Promise.all([...medias].map((m) => m.close()));
    if (ua.registered) await ua.unregister().catch(() => undefined);
    await ua.stop();
  }
}
