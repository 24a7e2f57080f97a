// A bare SIP phone over UDP for attack tests: one socket on a chosen loopback address, requests
// written by hand (so a test can forge any header), digest answers computed with the project's
// DigestClient, and every request that reaches it recorded and answered (INVITE 200 with its own
// To tag and Contact, anything else 200). Nothing here hides what goes on the wire.
import { createSocket, type Socket } from 'node:dgram';
import {
  createResponse,
  parseMessage,
  SipRequest,
  SipResponse,
  type SipMessage,
} from '../../src/sip/index.ts';
import { DigestClient } from '../../src/ua/digest-client.ts';

let counter = 0;
const unique = () => `${process.pid}-${++counter}-${Date.now().toString(36)}`;

export interface Sent {
  text: string;
  branch: string;
}

export class RawPhone {
  readonly received: SipRequest[] = [];
  /** Every datagram that reached this socket, parsed or not. */
  datagrams = 0;
  port = 0;
  private readonly socket: Socket;
  private readonly waiting = new Map<string, (res: SipResponse) => void>();
  /** Answers to give: status for requests by method (default 200; null: do not answer). */
  answers = new Map<string, number | null>();
  /**
   * An INVITE answered with a provisional only gets one more provisional `afterMs` later, if
   * still ringing: the same one again (a second 180: a proxy restarts its Timer C on it, RFC 3261
   * §16.7 step 2), or a `status` of its own (a 100, which does not restart it).
   */
  rering: { afterMs: number; status?: number } | undefined;
  /** INVITEs answered with a provisional only (answers INVITE < 200), by branch: a CANCEL ends them. */
  private readonly ringing = new Map<string, { req: SipRequest; toTag: string }>();

  private constructor(readonly address: string) {
    this.socket = createSocket('udp4');
    this.socket.on('message', (buf, rinfo) => this.onMessage(buf, rinfo.address, rinfo.port));
  }

  static async open(address: string): Promise<RawPhone> {
    const p = new RawPhone(address);
    await new Promise<void>((resolve, reject) => {
      p.socket.once('error', reject);
      p.socket.bind(0, address, () => resolve());
    });
    p.port = p.socket.address().port;
    return p;
  }

  get hostPort(): string {
    return `${this.address}:${this.port}`;
  }

  private onMessage(buf: Buffer, address: string, port: number): void {
    this.datagrams++;
    let msg: SipMessage;
    try {
      msg = parseMessage(buf);
    } catch {
      return;
    }
    if (msg instanceof SipResponse) {
      if (msg.status < 200) return;
      const done = this.waiting.get(msg.via[0]?.branch ?? '');
      if (done) {
        this.waiting.delete(msg.via[0]!.branch!);
        done(msg);
      }
      return;
    }
    const req = msg as SipRequest;
    this.received.push(req);
    if (req.method === 'ACK') return;
    const status = this.answers.has(req.method) ? this.answers.get(req.method)! : 200;
    if (status === null) return;
    const branch = req.via[0]?.branch ?? '';
    if (req.method === 'CANCEL' && this.ringing.has(branch)) {
      // As a UA does (§9.2): 200 to the CANCEL, then 487 to the INVITE still ringing.
      const invite = this.ringing.get(branch)!;
      this.ringing.delete(branch);
      this.socket.send(createResponse(req, 200).toBuffer(), port, address);
      const terminated = createResponse(invite.req, 487, undefined, { toTag: invite.toTag });
      this.socket.send(terminated.toBuffer(), port, address);
      return;
    }
    const res = createResponse(
      req,
      status,
      undefined,
      req.to.tag ? undefined : { toTag: 'p' + unique() },
    );
    if (req.method === 'INVITE' || req.method === 'SUBSCRIBE') {
      res.set('Contact', `<sip:callee@${this.hostPort}>`);
      for (const rr of req.getAll('Record-Route')) res.append('Record-Route', rr);
    }
    // An INVITE answered with a provisional only keeps ringing until it is cancelled.
    const bytes = res.toBuffer();
    if (req.method === 'INVITE' && status < 200 && !req.to.tag) {
      this.ringing.set(branch, { req, toTag: res.to.tag ?? '' });
      const rering = this.rering;
      if (rering !== undefined) {
        const again = setTimeout(() => {
          if (!this.ringing.has(branch)) return;
          const other = rering.status === 100 ? createResponse(req, 100).toBuffer() : undefined;
          this.socket.send(other ?? bytes, port, address);
        }, rering.afterMs);
        again.unref();
      }
    }
    this.socket.send(bytes, port, address);
  }

  /** Sends raw text (LF or CRLF lines) to 127.0.0.1:port; no answer awaited. */
  send(text: string, port: number, host = '127.0.0.1'): void {
    this.socket.send(text.replace(/\r?\n/g, '\r\n'), port, host);
  }

  /**
   * Sends `text` to host:port and waits for the final response to its top Via branch (undefined
   * after ms).
   */
  request(
    text: string,
    port: number,
    ms = 4000,
    host = '127.0.0.1',
  ): Promise<SipResponse | undefined> {
    const branch = /;branch=([^;\s]+)/.exec(text)?.[1] ?? '';
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(branch);
        resolve(undefined);
      }, ms);
      this.waiting.set(branch, (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      this.send(text, port, host);
    });
  }

  /**
   * A request from this phone: Via on its address with a fresh branch, Contact on its address
   * unless `contact` is given ('' for none). Headers in `extra` go before Content-Length.
   */
  build(opts: {
    method: string;
    uri: string;
    from: string;
    to: string;
    fromTag?: string;
    toTag?: string;
    callId?: string;
    cseq?: number;
    contact?: string;
    extra?: string[];
    body?: string;
    branch?: string;
  }): Sent {
    const branch = opts.branch ?? `z9hG4bK-raw-${unique()}`;
    const body = opts.body ?? '';
    const lines = [
      `${opts.method} ${opts.uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${this.hostPort};branch=${branch}`,
      'Max-Forwards: 70',
      `From: <${opts.from}>;tag=${opts.fromTag ?? `f${unique()}`}`,
      `To: <${opts.to}>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
      `Call-ID: ${opts.callId ?? `raw-${unique()}@${this.address}`}`,
      `CSeq: ${opts.cseq ?? 1} ${opts.method}`,
      ...(opts.contact === ''
        ? []
        : [`Contact: ${opts.contact ?? `<sip:phone@${this.hostPort}>`}`]),
      ...(opts.extra ?? []),
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ];
    return { text: lines.join('\r\n'), branch };
  }

  /**
   * REGISTERs `user` at the server (401 answered with `password`); resolves with the final
   * answer to the credentials. `contact` defaults to this phone's address.
   */
  async register(
    server: number,
    domain: string,
    user: string,
    password: string,
    opts: { contact?: string; callId?: string; expires?: number; extra?: string[] } = {},
  ): Promise<SipResponse> {
    const callId = opts.callId ?? `reg-${unique()}`;
    const aor = `sip:${user}@${domain}`;
    const base = {
      method: 'REGISTER',
      uri: `sip:${domain}`,
      from: aor,
      to: aor,
      callId,
      contact: opts.contact ?? `<sip:${user}@${this.hostPort}>`,
      extra: [`Expires: ${opts.expires ?? 600}`, ...(opts.extra ?? [])],
    };
    const first = await this.request(this.build({ ...base, cseq: 1 }).text, server);
    if (!first) throw new Error(`${user}: no answer to REGISTER`);
    if (first.status !== 401) return first;
    const [answer] = new DigestClient(user, password).answer(401, first.wwwAuthenticate, {
      method: 'REGISTER',
      uri: `sip:${domain}`,
    });
    const second = await this.request(
      this.build({ ...base, cseq: 2, extra: [...base.extra, `Authorization: ${answer!.value}`] })
        .text,
      server,
    );
    if (!second) throw new Error(`${user}: no answer to the REGISTER with credentials`);
    return second;
  }

  /** Resolves once a request of `method` has arrived (after `since` already seen), or throws. */
  async waitFor(method: string, ms = 4000, since = 0): Promise<SipRequest> {
    const start = Date.now();
    for (;;) {
      const found = this.received.slice(since).find((r) => r.method === method);
      if (found) return found;
      if (Date.now() - start > ms) throw new Error(`no ${method} reached ${this.hostPort}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Milliseconds of quiet, for "nothing arrived" checks. */
export const settle = (ms = 600) => new Promise((r) => setTimeout(r, ms));
