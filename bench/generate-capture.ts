// Writes a large, realistic SIP + RTP capture (pcap, Ethernet) for bench/analyze.
//
//   node --import tsx bench/generate-capture.ts --calls N --seconds S --out FILE [--seed X]
//        [--ipv6 FRACTION] [--tcp FRACTION]
//
// N answered G.711 calls (PCMU or PCMA, 20 ms, both ways, a little loss and jitter, some RFC 4733
// telephone-events) of about S seconds each, starting over the first S seconds so they overlap;
// plus about N/12 calls rejected (486/404), N/25 cancelled (CANCEL/487), N/10 REGISTERs (with a
// 401 challenge) and N/10 OPTIONS. Some calls use IPv6, some signal over TCP (a connection per
// call, some SIP messages split over two segments). Timestamps are in order. The file is written
// through one reused buffer, so memory stays flat whatever the size.
// 2000 calls of 10 s make about 2M packets (~470 MB).
import { closeSync, openSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';

// ---------------------------------------------------------------- options

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '10' },
    out: { type: 'string' },
    seed: { type: 'string', default: '1' },
    ipv6: { type: 'string', default: '0.2' },
    tcp: { type: 'string', default: '0.1' },
    quiet: { type: 'boolean', default: false },
  },
});
if (!args.out) {
  console.error(
    'usage: generate-capture.ts --calls N --seconds S --out FILE [--seed X] [--ipv6 F] [--tcp F]',
  );
  process.exit(2);
}
const CALLS = Number(args.calls);
const SECONDS = Number(args.seconds);
const IPV6_SHARE = Number(args.ipv6);
const TCP_SHARE = Number(args.tcp);
const EPOCH = 1767225600; // 2026-01-01T00:00:00Z

// ---------------------------------------------------------------- random

let seedState = Number(args.seed) >>> 0 || 1;
/** mulberry32: small, fast, reproducible. */
function rnd(): number {
  seedState = (seedState + 0x6d2b79f5) >>> 0;
  let t = seedState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (a: number, b: number): number => a + (b - a) * rnd();
const hex = (n: number): string => {
  let s = '';
  for (let i = 0; i < n; i++) s += ((rnd() * 16) | 0).toString(16);
  return s;
};

// ---------------------------------------------------------------- output

const OUT_BYTES = 8 * 1024 * 1024;
const MAX_FRAME = 2048;
const out = Buffer.allocUnsafe(OUT_BYTES);
let outPos = 0;
const fd = openSync(args.out, 'w');
let written = 0;
let packets = 0;

function flushIfNeeded(): void {
  if (outPos + MAX_FRAME + 16 > OUT_BYTES) flush();
}
function flush(): void {
  let p = 0;
  while (p < outPos) p += writeSync(fd, out, p, outPos - p);
  written += outPos;
  outPos = 0;
}

/* pcap file header: magic, v2.4, zone 0, sigfigs 0, snaplen 65535, LINKTYPE_ETHERNET. */
out.writeUInt32LE(0xa1b2c3d4, 0);
out.writeUInt16LE(2, 4);
out.writeUInt16LE(4, 6);
out.writeUInt32LE(0, 8);
out.writeUInt32LE(0, 12);
out.writeUInt32LE(65535, 16);
out.writeUInt32LE(1, 20);
outPos = 24;

/** Writes a pcap record header for a frame of `len` bytes at time t (seconds from EPOCH). */
function recordHeader(t: number, len: number): number {
  const us = Math.round(t * 1e6);
  const sec = Math.floor(us / 1e6);
  out.writeUInt32LE(EPOCH + sec, outPos);
  out.writeUInt32LE(us - sec * 1e6, outPos + 4);
  out.writeUInt32LE(len, outPos + 8);
  out.writeUInt32LE(len, outPos + 12);
  packets++;
  return outPos + 16;
}

// ---------------------------------------------------------------- checksums

function sum16(buf: Buffer, start: number, end: number, sum = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  return sum;
}
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

// ---------------------------------------------------------------- endpoints

interface Endpoint {
  v6: boolean;
  ip: Buffer; // 4 or 16 bytes
  text: string; // as in SIP/SDP
  uriHost: string; // bracketed for IPv6
  mac: Buffer;
}

function endpoint(v6: boolean, side: number, n: number): Endpoint {
  let ip: Buffer;
  let text: string;
  if (v6) {
    ip = Buffer.alloc(16);
    ip.writeUInt32BE(0x20010db8, 0);
    ip.writeUInt16BE(0x0a + side, 4);
    ip.writeUInt32BE(n + 1, 12);
    text = `2001:db8:${(0x0a + side).toString(16)}::${((n + 1) >>> 16).toString(16)}:${((n + 1) & 0xffff).toString(16)}`;
    if ((n + 1) >>> 16 === 0)
      text = `2001:db8:${(0x0a + side).toString(16)}::${((n + 1) & 0xffff).toString(16)}`;
  } else {
    ip = Buffer.from([10, side, (n >> 8) & 0xff, n & 0xff]);
    text = `10.${side}.${(n >> 8) & 0xff}.${n & 0xff}`;
  }
  const mac = Buffer.from([0x02, side, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, 0x01]);
  return { v6, ip, text, uriHost: v6 ? `[${text}]` : text, mac };
}

const ETH = 14;
const IP4 = 20;
const IP6 = 40;
const UDP = 8;
const TCP = 20;

/** Ethernet + IP header for a packet whose IP payload is `l4len` bytes; returns the L4 offset. */
function writeIp(
  buf: Buffer,
  p: number,
  src: Endpoint,
  dst: Endpoint,
  proto: number,
  l4len: number,
): number {
  dst.mac.copy(buf, p);
  src.mac.copy(buf, p + 6);
  if (src.v6) {
    buf.writeUInt16BE(0x86dd, p + 12);
    const q = p + ETH;
    buf.writeUInt32BE(0x60000000, q);
    buf.writeUInt16BE(l4len, q + 4);
    buf[q + 6] = proto;
    buf[q + 7] = 64;
    src.ip.copy(buf, q + 8);
    dst.ip.copy(buf, q + 24);
    return q + IP6;
  }
  buf.writeUInt16BE(0x0800, p + 12);
  const q = p + ETH;
  buf[q] = 0x45;
  buf[q + 1] = 0;
  buf.writeUInt16BE(IP4 + l4len, q + 2);
  buf.writeUInt32BE(0x00004000, q + 4); // id 0, DF
  buf[q + 8] = 64;
  buf[q + 9] = proto;
  buf.writeUInt16BE(0, q + 10);
  src.ip.copy(buf, q + 12);
  dst.ip.copy(buf, q + 16);
  buf.writeUInt16BE(fold(sum16(buf, q, q + IP4)), q + 10);
  return q + IP4;
}

function pseudoSum(src: Endpoint, dst: Endpoint, proto: number, len: number): number {
  return sum16(src.ip, 0, src.ip.length) + sum16(dst.ip, 0, dst.ip.length) + proto + len;
}

/** A UDP datagram carrying text. */
function writeUdpText(
  t: number,
  src: Endpoint,
  sp: number,
  dst: Endpoint,
  dp: number,
  text: string,
): void {
  flushIfNeeded();
  const len = text.length;
  const frameLen = ETH + (src.v6 ? IP6 : IP4) + UDP + len;
  const p = recordHeader(t, frameLen);
  const u = writeIp(out, p, src, dst, 17, UDP + len);
  out.writeUInt16BE(sp, u);
  out.writeUInt16BE(dp, u + 2);
  out.writeUInt16BE(UDP + len, u + 4);
  out.writeUInt16BE(0, u + 6);
  out.write(text, u + UDP, len, 'latin1');
  if (src.v6) {
    let ck = fold(sum16(out, u, u + UDP + len, pseudoSum(src, dst, 17, UDP + len)));
    if (ck === 0) ck = 0xffff;
    out.writeUInt16BE(ck, u + 6);
  }
  outPos = p + frameLen;
}

interface TcpConn {
  a: Endpoint;
  b: Endpoint;
  aPort: number;
  bPort: number;
  seq: [number, number]; // next sequence number A->B, B->A
}

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;

/** One TCP segment in direction dir (0 = A->B) with the given flags and text bytes. */
function writeTcp(t: number, c: TcpConn, dir: 0 | 1, flags: number, text: string): void {
  flushIfNeeded();
  const src = dir === 0 ? c.a : c.b;
  const dst = dir === 0 ? c.b : c.a;
  const len = text.length;
  const frameLen = ETH + (src.v6 ? IP6 : IP4) + TCP + len;
  const p = recordHeader(t, frameLen);
  const q = writeIp(out, p, src, dst, 6, TCP + len);
  out.writeUInt16BE(dir === 0 ? c.aPort : c.bPort, q);
  out.writeUInt16BE(dir === 0 ? c.bPort : c.aPort, q + 2);
  out.writeUInt32BE(c.seq[dir] >>> 0, q + 4);
  out.writeUInt32BE(flags & TCP_ACK ? c.seq[1 - dir] >>> 0 : 0, q + 8);
  out[q + 12] = 5 << 4;
  out[q + 13] = flags;
  out.writeUInt16BE(65535, q + 14);
  out.writeUInt32BE(0, q + 16); // checksum, urgent
  out.write(text, q + TCP, len, 'latin1');
  out.writeUInt16BE(fold(sum16(out, q, q + TCP + len, pseudoSum(src, dst, 6, TCP + len))), q + 16);
  c.seq[dir] = (c.seq[dir] + len + (flags & (TCP_SYN | TCP_FIN) ? 1 : 0)) >>> 0;
  outPos = p + frameLen;
}

// ---------------------------------------------------------------- G.711 audio

function linearToUlaw(sample: number): number {
  const BIAS = 0x84;
  let sign = 0;
  let s = sample;
  if (s < 0) {
    s = -s;
    sign = 0x80;
  }
  if (s > 32635) s = 32635;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function linearToAlaw(sample: number): number {
  let s = sample >> 3;
  let mask = 0xd5;
  if (s < 0) {
    mask = 0x55;
    s = -s - 1;
  }
  const ends = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
  let seg = 0;
  while (seg < 8 && s > ends[seg]) seg++;
  if (seg >= 8) return 0x7f ^ mask;
  let a = seg << 4;
  a |= seg < 2 ? (s >> 1) & 0x0f : (s >> seg) & 0x0f;
  return a ^ mask;
}

const FRAME_SAMPLES = 160;
const FRAMES_PER_CYCLE = 50; // one second of a 400 Hz tone loops cleanly
/** 50 frames of tone per codec, and each frame's 16-bit word sum (for IPv6 UDP checksums). */
function toneFrames(
  encode: (s: number) => number,
  hz: number,
): { frames: Buffer[]; sums: number[] } {
  const frames: Buffer[] = [];
  const sums: number[] = [];
  for (let f = 0; f < FRAMES_PER_CYCLE; f++) {
    const b = Buffer.alloc(FRAME_SAMPLES);
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      const n = f * FRAME_SAMPLES + i;
      b[i] = encode(Math.round(8000 * Math.sin((2 * Math.PI * hz * n) / 8000)));
    }
    frames.push(b);
    sums.push(sum16(b, 0, b.length));
  }
  return { frames, sums };
}
const PCMU = toneFrames(linearToUlaw, 400);
const PCMA = toneFrames(linearToAlaw, 400);
const PT_PCMU = 0;
const PT_PCMA = 8;
const PT_EVENT = 101;
const RTP = 12;
const LOSS = 0.003;
const JITTER = 0.004;

// ---------------------------------------------------------------- sources (merged by time)

interface Source {
  next: number;
  /** Writes the packet due at `next` and advances; returns false when done. */
  emit(): boolean;
}

class RtpStream implements Source {
  next: number;
  private n = 0;
  private readonly start: number;
  private readonly end: number;
  private seq: number;
  private readonly tsBase: number;
  private readonly ssrc: number;
  private readonly template: Buffer;
  private readonly v6: boolean;
  private readonly baseSum: number;
  private readonly tone: { frames: Buffer[]; sums: number[] };
  private readonly pt: number;
  private readonly dtmfFrom: number;
  private readonly dtmfDigit: number;

  constructor(
    src: Endpoint,
    sp: number,
    dst: Endpoint,
    dp: number,
    pt: number,
    start: number,
    end: number,
    dtmf: boolean,
  ) {
    this.start = start;
    this.end = end;
    this.pt = pt;
    this.tone = pt === PT_PCMU ? PCMU : PCMA;
    this.seq = (rnd() * 65536) | 0;
    this.tsBase = (rnd() * 0xffffffff) >>> 0;
    this.ssrc = (rnd() * 0xffffffff) >>> 0;
    this.v6 = src.v6;
    const frames = Math.floor((end - start) / 0.02);
    this.dtmfFrom = dtmf && frames > 150 ? 50 + Math.floor(rnd() * (frames - 100)) : -1;
    this.dtmfDigit = (rnd() * 12) | 0;
    // Ethernet + IP + UDP + RTP header, written once; only seq, timestamp, payload change.
    const hdr = ETH + (src.v6 ? IP6 : IP4) + UDP + RTP;
    const tpl = Buffer.alloc(hdr);
    const u = writeIp(tpl, 0, src, dst, 17, UDP + RTP + FRAME_SAMPLES);
    tpl.writeUInt16BE(sp, u);
    tpl.writeUInt16BE(dp, u + 2);
    tpl.writeUInt16BE(UDP + RTP + FRAME_SAMPLES, u + 4);
    tpl[u + 8] = 0x80;
    tpl[u + 9] = pt;
    tpl.writeUInt32BE(this.ssrc, u + 16);
    this.template = tpl;
    // Sum of the constant UDP-checksum words: pseudo-header, UDP header, RTP v/pt and SSRC.
    this.baseSum =
      pseudoSum(src, dst, 17, UDP + RTP + FRAME_SAMPLES) +
      sum16(this.template, hdr - RTP - UDP, hdr - RTP) +
      sum16(this.template, hdr - RTP, hdr - RTP + 2) +
      sum16(this.template, hdr - 4, hdr);
    this.next = start + rnd() * JITTER;
  }

  emit(): boolean {
    const n = this.n++;
    const seq = (this.seq + n) & 0xffff;
    let ts = (this.tsBase + n * FRAME_SAMPLES) >>> 0;
    const t = this.next;
    const inEvent = this.dtmfFrom >= 0 && n >= this.dtmfFrom && n < this.dtmfFrom + 8;
    if (rnd() >= LOSS || inEvent) {
      flushIfNeeded();
      const tpl = this.template;
      const hdr = tpl.length;
      let payloadLen = FRAME_SAMPLES;
      let marker = 0;
      let pt = this.pt;
      let payload: Buffer;
      let paySum: number;
      if (inEvent) {
        // RFC 4733 event: same timestamp for the whole event, growing duration, E bit at the end.
        const k = n - this.dtmfFrom;
        ts = (this.tsBase + this.dtmfFrom * FRAME_SAMPLES) >>> 0;
        payload = EVENT_BUF;
        payload[0] = this.dtmfDigit;
        const endBit = k >= 5;
        payload[1] = (endBit ? 0x80 : 0) | 10;
        payload.writeUInt16BE(Math.min(k + 1, 6) * FRAME_SAMPLES, 2);
        payloadLen = 4;
        marker = k === 0 ? 0x80 : 0;
        pt = PT_EVENT;
        paySum = sum16(payload, 0, 4);
      } else {
        const i = n % FRAMES_PER_CYCLE;
        payload = this.tone.frames[i];
        paySum = this.tone.sums[i];
      }
      const frameLen = hdr + payloadLen;
      const p = recordHeader(t, frameLen);
      tpl.copy(out, p);
      payload.copy(out, p + hdr, 0, payloadLen);
      const r = p + hdr - RTP;
      out[r + 1] = marker | pt;
      out.writeUInt16BE(seq, r + 2);
      out.writeUInt32BE(ts, r + 4);
      if (payloadLen !== FRAME_SAMPLES || pt !== this.pt) {
        const u = r - UDP;
        out.writeUInt16BE(UDP + RTP + payloadLen, u + 4);
        const ipLenAt = p + ETH + (this.v6 ? 4 : 2);
        out.writeUInt16BE((this.v6 ? 0 : IP4) + UDP + RTP + payloadLen, ipLenAt);
        if (!this.v6) {
          const q = p + ETH;
          out.writeUInt16BE(0, q + 10);
          out.writeUInt16BE(fold(sum16(out, q, q + IP4)), q + 10);
        }
      }
      if (this.v6) {
        const u = r - UDP;
        let sum: number;
        if (payloadLen === FRAME_SAMPLES && pt === this.pt)
          sum = this.baseSum + paySum + seq + (ts >>> 16) + (ts & 0xffff);
        else
          sum = sum16(
            out,
            u,
            u + UDP + RTP + payloadLen,
            pseudoSum6(out, p + ETH, UDP + RTP + payloadLen),
          );
        let ck = fold(sum);
        if (ck === 0) ck = 0xffff;
        out.writeUInt16BE(ck, u + 6);
      }
      outPos = p + frameLen;
    }
    this.next = this.start + (n + 1) * 0.02 + rnd() * JITTER;
    return this.next < this.end;
  }
}
const EVENT_BUF = Buffer.alloc(4);

function pseudoSum6(buf: Buffer, ip: number, len: number): number {
  return sum16(buf, ip + 8, ip + 40) + 17 + len;
}

/** A fixed list of signalling packets of one call or transaction. */
class Signalling implements Source {
  next: number;
  private i = 0;
  private readonly events: { t: number; write: (t: number) => void }[];

  constructor(events: { t: number; write: (t: number) => void }[]) {
    events.sort((a, b) => a.t - b.t);
    this.events = events;
    this.next = events[0].t;
  }

  emit(): boolean {
    this.events[this.i].write(this.next);
    this.i++;
    if (this.i >= this.events.length) return false;
    this.next = this.events[this.i].t;
    return true;
  }
}

// ---------------------------------------------------------------- SIP

type Kind = 'answered' | 'rejected' | 'cancelled' | 'register' | 'options';

interface Plan {
  start: number;
  kind: Kind;
  n: number;
}

/** Builds the sources for one call/transaction and returns them. */
function buildCall(plan: Plan): Source[] {
  const n = plan.n;
  const v6 = rnd() < IPV6_SHARE;
  const tcp = rnd() < TCP_SHARE;
  const a = endpoint(v6, 1, n % 60000);
  const b = endpoint(v6, 2, (n * 7) % 60000);
  const transport = tcp ? 'TCP' : 'UDP';
  const aPort = tcp ? 30000 + (n % 30000) : 5060;
  const callId = `${hex(16)}@${a.text}`;
  const fromTag = hex(8);
  const toTag = hex(8);
  const branch = `z9hG4bK${hex(12)}`;
  const userA = `1${String(n % 1000000).padStart(6, '0')}`;
  const userB = `2${String((n * 7) % 1000000).padStart(6, '0')}`;
  const events: { t: number; write: (t: number) => void }[] = [];
  const conn: TcpConn | undefined = tcp
    ? { a, b, aPort, bPort: 5060, seq: [(rnd() * 0xffffffff) >>> 0, (rnd() * 0xffffffff) >>> 0] }
    : undefined;
  const t0 = plan.start;

  /** Sends text from A (dir 0) or B (dir 1); over TCP sometimes as two segments. */
  const send = (t: number, dir: 0 | 1, text: string): void => {
    if (!conn) {
      const [src, dst] = dir === 0 ? [a, b] : [b, a];
      events.push({ t, write: (at) => writeUdpText(at, src, 5060, dst, 5060, text) });
      return;
    }
    const c = conn;
    if (rnd() < 0.3 && text.length > 100) {
      const cut = 40 + Math.floor(rnd() * (text.length - 80));
      events.push({ t, write: (at) => writeTcp(at, c, dir, TCP_ACK, text.slice(0, cut)) });
      events.push({
        t: t + 0.00005,
        write: (at) => writeTcp(at, c, dir, TCP_ACK | TCP_PSH, text.slice(cut)),
      });
    } else events.push({ t, write: (at) => writeTcp(at, c, dir, TCP_ACK | TCP_PSH, text) });
  };

  const via = `Via: SIP/2.0/${transport} ${a.uriHost}:${aPort};branch=${branch}${tcp ? '' : ';rport'}\r\n`;
  const from = `From: "${userA}" <sip:${userA}@${a.uriHost}>;tag=${fromTag}\r\n`;
  const toNoTag = `To: <sip:${userB}@${b.uriHost}>\r\n`;
  const toTagged = `To: <sip:${userB}@${b.uriHost}>;tag=${toTag}\r\n`;
  const tp = tcp ? ';transport=tcp' : '';
  const contactA = `Contact: <sip:${userA}@${a.uriHost}:${aPort}${tp}>\r\n`;
  const contactB = `Contact: <sip:${userB}@${b.uriHost}:5060${tp}>\r\n`;
  const ruri = `sip:${userB}@${b.uriHost}:5060${tp}`;
  const ua = 'User-Agent: trapezoid-bench\r\n';
  const msg = (
    start: string,
    headers: string,
    cseq: string,
    body = '',
    type = 'application/sdp',
  ): string =>
    `${start}\r\n${headers}Call-ID: ${callId}\r\nCSeq: ${cseq}\r\n${ua}` +
    (body ? `Content-Type: ${type}\r\n` : '') +
    `Content-Length: ${body.length}\r\n\r\n${body}`;
  const ipv = v6 ? 'IP6' : 'IP4';
  const sdp = (who: Endpoint, port: number, pt: number, sess: string): string =>
    `v=0\r\no=- ${sess} ${sess} IN ${ipv} ${who.text}\r\ns=-\r\nc=IN ${ipv} ${who.text}\r\nt=0 0\r\n` +
    `m=audio ${port} RTP/AVP ${pt} ${PT_EVENT}\r\na=rtpmap:${pt} ${pt === PT_PCMU ? 'PCMU' : 'PCMA'}/8000\r\n` +
    `a=rtpmap:${PT_EVENT} telephone-event/8000\r\na=fmtp:${PT_EVENT} 0-16\r\na=ptime:20\r\na=sendrecv\r\n`;

  const sources: Source[] = [];
  let t = t0;
  if (conn) {
    const c = conn;
    events.push({ t: t0 - 0.0012, write: (at) => writeTcp(at, c, 0, TCP_SYN, '') });
    events.push({ t: t0 - 0.0008, write: (at) => writeTcp(at, c, 1, TCP_SYN | TCP_ACK, '') });
    events.push({ t: t0 - 0.0004, write: (at) => writeTcp(at, c, 0, TCP_ACK, '') });
  }

  if (plan.kind === 'register' || plan.kind === 'options') {
    const target = plan.kind === 'register' ? `sip:${b.uriHost}${tp}` : ruri;
    const to = plan.kind === 'register' ? `To: <sip:${userA}@${b.uriHost}>\r\n` : toNoTag;
    const head = (br: string): string =>
      via.replace(branch, br) + `Max-Forwards: 70\r\n${from}${to}`;
    if (plan.kind === 'register') {
      send(
        t,
        0,
        msg(
          `REGISTER ${target} SIP/2.0`,
          head(branch) + `${contactA}Expires: 3600\r\n`,
          '1 REGISTER',
        ),
      );
      t += between(0.001, 0.02);
      const nonce = hex(24);
      send(
        t,
        1,
        msg(
          'SIP/2.0 401 Unauthorized',
          head(branch).replace(to, to.replace('\r\n', `;tag=${toTag}\r\n`)) +
            `WWW-Authenticate: Digest realm="${b.text}", nonce="${nonce}", algorithm=MD5, qop="auth"\r\n`,
          '1 REGISTER',
        ),
      );
      t += between(0.005, 0.05);
      const b2 = `z9hG4bK${hex(12)}`;
      const auth = `Authorization: Digest username="${userA}", realm="${b.text}", nonce="${nonce}", uri="${target}", response="${hex(32)}", algorithm=MD5, cnonce="${hex(8)}", qop=auth, nc=00000001\r\n`;
      send(
        t,
        0,
        msg(
          `REGISTER ${target} SIP/2.0`,
          head(b2) + contactA + auth + 'Expires: 3600\r\n',
          '2 REGISTER',
        ),
      );
      t += between(0.001, 0.02);
      send(
        t,
        1,
        msg(
          'SIP/2.0 200 OK',
          head(b2).replace(to, to.replace('\r\n', `;tag=${toTag}\r\n`)) +
            `${contactA.replace('\r\n', ';expires=3600\r\n')}`,
          '2 REGISTER',
        ),
      );
    } else {
      send(
        t,
        0,
        msg(
          `OPTIONS ${target} SIP/2.0`,
          head(branch) + contactA + 'Accept: application/sdp\r\n',
          '1 OPTIONS',
        ),
      );
      t += between(0.001, 0.02);
      send(
        t,
        1,
        msg(
          'SIP/2.0 200 OK',
          head(branch).replace(toNoTag, toTagged) +
            contactB +
            'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n',
          '1 OPTIONS',
        ),
      );
    }
  } else {
    const pt = rnd() < 0.5 ? PT_PCMU : PT_PCMA;
    const rtpA = 16384 + 2 * (n % 8000);
    const rtpB = 32768 + 2 * ((n * 3) % 8000);
    const sess = String(Math.floor(rnd() * 1e9));
    const inviteHead = via + `Max-Forwards: 70\r\n${from}${toNoTag}${contactA}`;
    send(
      t,
      0,
      msg(
        `INVITE ${ruri} SIP/2.0`,
        inviteHead + 'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n',
        '1 INVITE',
        sdp(a, rtpA, pt, sess),
      ),
    );
    t += between(0.002, 0.01);
    const respHead = via + from;
    send(t, 1, msg('SIP/2.0 100 Trying', respHead + toNoTag, '1 INVITE'));
    t += between(0.05, 0.5);
    const rejected = plan.kind === 'rejected' && rnd() < 0.4;
    if (!rejected)
      send(t, 1, msg('SIP/2.0 180 Ringing', respHead + toTagged + contactB, '1 INVITE'));
    t += between(0.5, 3);
    const ackTo = (tag: string): string =>
      `Via: SIP/2.0/${transport} ${a.uriHost}:${aPort};branch=${tag}${tcp ? '' : ';rport'}\r\nMax-Forwards: 70\r\n${from}${toTagged}`;
    if (plan.kind === 'rejected') {
      const code = rnd() < 0.6 ? '486 Busy Here' : '404 Not Found';
      send(t, 1, msg(`SIP/2.0 ${code}`, respHead + toTagged, '1 INVITE'));
      t += between(0.001, 0.02);
      send(t, 0, msg(`ACK ${ruri} SIP/2.0`, ackTo(branch), '1 ACK'));
    } else if (plan.kind === 'cancelled') {
      send(
        t,
        0,
        msg(`CANCEL ${ruri} SIP/2.0`, via + `Max-Forwards: 70\r\n${from}${toNoTag}`, '1 CANCEL'),
      );
      t += between(0.001, 0.02);
      send(t, 1, msg('SIP/2.0 200 OK', respHead + toTagged, '1 CANCEL'));
      t += 0.0005;
      send(t, 1, msg('SIP/2.0 487 Request Terminated', respHead + toTagged, '1 INVITE'));
      t += between(0.001, 0.02);
      send(t, 0, msg(`ACK ${ruri} SIP/2.0`, ackTo(branch), '1 ACK'));
    } else {
      send(
        t,
        1,
        msg(
          'SIP/2.0 200 OK',
          respHead + toTagged + contactB,
          '1 INVITE',
          sdp(b, rtpB, pt, String(Math.floor(rnd() * 1e9))),
        ),
      );
      t += between(0.001, 0.02);
      send(
        t,
        0,
        msg(`ACK sip:${userB}@${b.uriHost}:5060${tp} SIP/2.0`, ackTo(`z9hG4bK${hex(12)}`), '1 ACK'),
      );
      const mediaStart = t + 0.001;
      const mediaEnd = mediaStart + SECONDS * between(0.9, 1.1);
      const dtmf = rnd() < 0.2;
      sources.push(new RtpStream(a, rtpA, b, rtpB, pt, mediaStart, mediaEnd, dtmf));
      sources.push(new RtpStream(b, rtpB, a, rtpA, pt, mediaStart + 0.005, mediaEnd, false));
      t = mediaEnd + 0.01;
      const byeBranch = `z9hG4bK${hex(12)}`;
      if (rnd() < 0.5) {
        const h = `Via: SIP/2.0/${transport} ${a.uriHost}:${aPort};branch=${byeBranch}\r\nMax-Forwards: 70\r\n${from}${toTagged}`;
        send(t, 0, msg(`BYE sip:${userB}@${b.uriHost}:5060${tp} SIP/2.0`, h, '2 BYE'));
        t += between(0.001, 0.01);
        send(t, 1, msg('SIP/2.0 200 OK', h.replace('Max-Forwards: 70\r\n', ''), '2 BYE'));
      } else {
        const bFrom = `From: <sip:${userB}@${b.uriHost}>;tag=${toTag}\r\n`;
        const bTo = `To: "${userA}" <sip:${userA}@${a.uriHost}>;tag=${fromTag}\r\n`;
        const h = `Via: SIP/2.0/${transport} ${b.uriHost}:5060;branch=${byeBranch}\r\nMax-Forwards: 70\r\n${bFrom}${bTo}`;
        send(t, 1, msg(`BYE sip:${userA}@${a.uriHost}:${aPort}${tp} SIP/2.0`, h, '1 BYE'));
        t += between(0.001, 0.01);
        send(t, 0, msg('SIP/2.0 200 OK', h.replace('Max-Forwards: 70\r\n', ''), '1 BYE'));
      }
    }
  }
  if (conn) {
    const c = conn;
    events.push({ t: t + 0.002, write: (at) => writeTcp(at, c, 0, TCP_FIN | TCP_ACK, '') });
    events.push({ t: t + 0.0025, write: (at) => writeTcp(at, c, 1, TCP_FIN | TCP_ACK, '') });
    events.push({ t: t + 0.003, write: (at) => writeTcp(at, c, 0, TCP_ACK, '') });
  }
  sources.push(new Signalling(events));
  return sources;
}

// ---------------------------------------------------------------- schedule

const plans: Plan[] = [];
const add = (kind: Kind, count: number): void => {
  for (let i = 0; i < count; i++)
    plans.push({ start: 0.01 + rnd() * SECONDS, kind, n: plans.length });
};
add('answered', CALLS);
add('rejected', Math.round(CALLS / 12));
add('cancelled', Math.round(CALLS / 25));
add('register', Math.round(CALLS / 10));
add('options', Math.round(CALLS / 10));
plans.sort((x, y) => x.start - y.start);

/** Min-heap of sources by `next`. */
const heap: Source[] = [];
function push(s: Source): void {
  heap.push(s);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent].next <= s.next) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = s;
}
function siftDown(): void {
  const s = heap[0];
  const len = heap.length;
  let i = 0;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= len) break;
    if (c + 1 < len && heap[c + 1].next < heap[c].next) c++;
    if (heap[c].next >= s.next) break;
    heap[i] = heap[c];
    i = c;
  }
  heap[i] = s;
}

const started = process.hrtime.bigint();
let nextPlan = 0;
// A call is built 2 s before it starts (TCP handshakes come just before the INVITE).
const LEAD = 2;
for (;;) {
  while (
    nextPlan < plans.length &&
    (heap.length === 0 || plans[nextPlan].start - LEAD <= heap[0].next)
  ) {
    for (const s of buildCall(plans[nextPlan++])) push(s);
  }
  if (heap.length === 0) break;
  const top = heap[0];
  if (top.emit()) siftDown();
  else {
    const last = heap.pop() as Source;
    if (heap.length > 0) {
      heap[0] = last;
      siftDown();
    }
  }
}
flush();
closeSync(fd);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const summary = {
  out: args.out,
  calls: CALLS,
  seconds: SECONDS,
  packets,
  bytes: written,
  generationSeconds: Number(seconds.toFixed(2)),
  packetsPerSecond: Math.round(packets / seconds),
  megabytesPerSecond: Number((written / 1e6 / seconds).toFixed(1)),
};
if (!args.quiet) console.log(JSON.stringify(summary));
