// The softphone's signalling: registers, places or answers calls, hangs up after a while, and
// reports each step as an event (a line of text, or one JSON object per line). Media comes later;
// for now the SDP it offers and answers describes an inactive audio stream.
import {
  Call,
  CallFailedError,
  RegistrationError,
  UserAgent,
  type IncomingCall,
} from '../ua/index.ts';
import type { TransportName } from '../ua/index.ts';

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
}

export type PhoneEvent =
  | { event: 'listening'; address: string; port: number; transport: string }
  | { event: 'registered'; expires: number; status: number }
  | { event: 'unregistered'; status: number }
  | { event: 'incoming'; callId: string; from: string }
  | { event: 'ringing'; callId: string; status: number }
  | { event: 'answered'; callId: string; status: number }
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
    case 'error':
      return `error: ${e.message}`;
  }
}

/** An SDP describing one audio stream we do not send or receive yet (signalling only). */
function inactiveSdp(address: string): string {
  const ip6 = address.includes(':');
  const id = Date.now();
  return [
    'v=0',
    `o=trapezoid ${id} ${id} IN ${ip6 ? 'IP6' : 'IP4'} ${address}`,
    's=trapezoid',
    `c=IN ${ip6 ? 'IP6' : 'IP4'} ${address}`,
    't=0 0',
    'm=audio 9 RTP/AVP 0 8 101',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=inactive',
    '',
  ].join('\r\n');
}

/** After the last of --calls N ended: time left to absorb retransmissions (T1 + 2T1 + 4T1...). */
const LINGER_MS = 2000;

function hostOf(server: string): string {
  const m = /^(?:(?:udp|tcp|tls|ws|wss):)?(\[[^\]]+\]|[^:]+)/i.exec(server);
  return m ? m[1] : server;
}

/** Runs the phone until its work is done; resolves with the exit code (0 success, 1 failure). */
export async function runPhone(
  opts: PhoneOptions,
  out: (line: string) => void,
  signal?: AbortSignal,
): Promise<number> {
  const report = (e: PhoneEvent) => out(opts.json ? JSON.stringify(e) : describe(e));
  const callHost = opts.call && /@([^;>:]+|\[[^\]]+\])/.exec(opts.call)?.[1];
  const domain = opts.domain ?? (opts.server ? hostOf(opts.server) : (callHost ?? '127.0.0.1'));
  const user = opts.user ?? 'trapezoid';
  const listen =
    opts.listen ??
    (opts.answer && !opts.server
      ? `${opts.transport}:127.0.0.1:5060`
      : `${opts.transport}:127.0.0.1:0`);
  const ua = new UserAgent({
    uri: `sip:${user}@${domain}`,
    username: user,
    password: opts.password,
    server: opts.server ? `${opts.transport}:${opts.server}` : undefined,
    transport: opts.transport,
    listen,
    registerExpires: opts.expires,
  });
  let code = 0;
  const calls = new Set<Call>();
  let stopping = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  const follow = (call: Call) => {
    calls.add(call);
    let timer: NodeJS.Timeout | undefined;
    call.on('ringing', (res) =>
      report({ event: 'ringing', callId: call.callId, status: res.status }),
    );
    call.on('answered', () => {
      report({ event: 'answered', callId: call.callId, status: 200 });
      if (opts.hangupAfter !== undefined) {
        timer = setTimeout(
          () => void call.hangup().catch(() => undefined),
          opts.hangupAfter * 1000,
        );
      }
    });
    call.on('ended', (end) => {
      if (timer) clearTimeout(timer);
      calls.delete(call);
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
    const sdp = inactiveSdp(local?.address ?? '127.0.0.1');

    if (opts.server) {
      // Every successful REGISTER (the first and each refresh) is reported.
      ua.on('registered', (r) =>
        report({ event: 'registered', expires: r.expires, status: r.response.status }),
      );
      try {
        await ua.register();
        ua.on('registrationFailed', (res) =>
          report({
            event: 'error',
            message: `registration refresh failed: ${res.status} ${res.reason}`,
            status: res.status,
          }),
        );
      } catch (err) {
        const status = err instanceof RegistrationError ? err.status : undefined;
        report({
          event: 'error',
          message: err instanceof Error ? err.message : String(err),
          status,
        });
        return 1;
      }
    }

    if (opts.answer) {
      let ended = 0;
      ua.on('invite', (incoming: IncomingCall) => {
        if (stopping) {
          incoming.reject(480);
          return;
        }
        report({ event: 'incoming', callId: incoming.callId, from: incoming.from });
        follow(incoming);
        incoming.on('ended', () => {
          ended += 1;
          if (opts.calls !== undefined && ended >= opts.calls) resolveDone();
        });
        incoming.ring();
        void incoming.accept({ body: sdp });
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
      try {
        const call = await ua.invite(opts.call, {
          body: sdp,
          onCall: (c) => {
            outgoing = c;
            follow(c);
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
      } catch (err) {
        if (giveUp) clearTimeout(giveUp);
        if (!(err instanceof CallFailedError)) {
          report({ event: 'error', message: err instanceof Error ? err.message : String(err) });
        }
        code = 1;
      } finally {
        if (forced) clearTimeout(forced);
        signal?.removeEventListener('abort', onAbort);
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
    if (ua.registered) await ua.unregister().catch(() => undefined);
    await ua.stop();
  }
}
