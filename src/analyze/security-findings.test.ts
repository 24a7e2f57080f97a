// Security findings fed packet by packet: each rule fires on its attack and stays quiet on the
// legitimate traffic that looks like it (relays, handovers, restarts, NAT, a phone's own retries).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecurityFindings } from './security-findings.ts';
import type { SecurityFinding } from './security-findings.ts';
import type { UdpPacket } from './rtp-tracker.ts';
import type { MessageOrigin } from './call-tracker.ts';
import { addressScope, canonicalIp } from './finding-address.ts';
import { MAX_FINDING_FRAMES } from './finding-evidence.ts';
import { renderFindingsText } from './findings-text.ts';

function rtp(seq: number, ts: number, ssrc: number, fill = 0xff): Buffer {
  const b = Buffer.alloc(12 + 160, fill);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  return b;
}

let frame = 0;
function udp(payload: Buffer, t: number, src: string, dst: string): UdpPacket {
  const [sa, sp] = src.split(':');
  const [da, dp] = dst.split(':');
  return {
    frame: ++frame,
    ts: t,
    src: sa,
    srcPort: Number(sp),
    dst: da,
    dstPort: Number(dp),
    payload,
  };
}

const A = '10.0.0.1:4000';
const B = '10.0.0.2:5000';
const RELAY = '10.0.0.9:30000';
const EVIL = '10.0.0.66:4444';

function kinds(f: SecurityFinding[]): string[] {
  return f.map((x) => x.kind).filter((k) => k !== 'cleartext');
}

/** A 20 ms G.711 stream: packet i at 1 + i*0.02 s. */
function stream(sec: SecurityFindings, n: number, src: string, dst: string, ssrc: number): void {
  for (let i = 0; i < n; i++)
    sec.rtp(udp(rtp(1000 + i, 160 * i, ssrc, i & 0xff), 1 + i * 0.02, src, dst));
}

test('a relay reusing the SSRC on its two legs, and a handover to a new source, are no injection', () => {
  const sec = new SecurityFindings();
  for (let i = 0; i < 200; i++) {
    const t = 1 + i * 0.02;
    sec.rtp(udp(rtp(1000 + i, 160 * i, 0xaaaa), t, A, RELAY));
    sec.rtp(udp(rtp(1000 + i, 160 * i, 0xaaaa), t + 0.001, '10.0.0.9:30002', B));
  }
  // Handover: the same SSRC toward B from a new address after a re-INVITE, plus one straggler.
  for (let i = 0; i < 100; i++) {
    const src = i < 50 ? A : '10.0.0.3:4000';
    sec.rtp(udp(rtp(5000 + i, 160 * i, 0xbbbb), 10 + i * 0.02, src, B));
    if (i === 52) sec.rtp(udp(rtp(5050, 160 * 50, 0xbbbb), 10 + i * 0.02 + 0.005, A, B));
  }
  // A sender restarting its numbering once (new sequence and timestamp base).
  for (let i = 0; i < 100; i++) {
    const base = i < 50 ? 0 : 40000;
    sec.rtp(udp(rtp(base + i, base * 100 + 160 * i, 0xcccc), 20 + i * 0.02, A, '10.0.0.2:5002'));
  }
  // Network duplicates (the same packet twice within a millisecond) are not a replay.
  for (let i = 0; i < 50; i++) {
    const p = rtp(7000 + i, 160 * i, 0xdddd, i);
    sec.rtp(udp(p, 30 + i * 0.02, A, '10.0.0.2:5004'));
    sec.rtp(udp(p, 30 + i * 0.02 + 0.0005, A, '10.0.0.2:5004'));
  }
  assert.deepEqual(kinds(sec.findings()), []);
});

test('the same SSRC toward the same destination from a second source, interleaved, is injection', () => {
  const sec = new SecurityFindings();
  const injected: number[] = [];
  for (let i = 0; i < 100; i++) {
    sec.rtp(udp(rtp(1000 + i, 160 * i, 0x1234, i), 1 + i * 0.02, A, B));
    if (i >= 40 && i < 70 && i % 2 === 0) {
      sec.rtp(udp(rtp(1000 + i, 160 * i, 0x1234, 0x55), 1 + i * 0.02 + 0.01, EVIL, B));
      injected.push(frame);
    }
  }
  const found = sec.findings().filter((f) => f.kind === 'rtp-injection');
  assert.equal(found.length, 1);
  assert.equal(found[0].severity, 'high');
  assert.match(found[0].text, /0x00001234.*10\.0\.0\.2:5000.*10\.0\.0\.66:4444/);
  assert.equal(found[0].frameCount, 15);
  assert.deepEqual(found[0].frames, injected);
});

test('a forged source address with its own numbering interleaved in a stream is injection', () => {
  const sec = new SecurityFindings();
  for (let i = 0; i < 100; i++) {
    sec.rtp(udp(rtp(1000 + i, 160 * i, 0x77, i), 1 + i * 0.02, A, B));
    // Every fifth packet the forger sends its own: sequence numbers 30000 on, timestamps far off.
    if (i % 5 === 0) sec.rtp(udp(rtp(30000 + i, 9e8 + 160 * i, 0x77), 1 + i * 0.02 + 0.01, A, B));
  }
  const f = sec.findings().filter((x) => x.kind === 'rtp-injection');
  assert.equal(f.length, 1);
  assert.equal(f[0].frameCount, 20);
  assert.match(f[0].text, /jump away/);
});

test('a burst replayed seconds later, and stale packets, are replay', () => {
  const sec = new SecurityFindings();
  const packets: Buffer[] = [];
  const replayed: number[] = [];
  for (let i = 0; i < 300; i++) {
    const p = rtp(2000 + i, 160 * i, 0x99, i % 251);
    packets.push(p);
    sec.rtp(udp(p, 1 + i * 0.02, A, B));
    if (i === 200) {
      // Packets 50-59 (2-3 s old) again, unchanged.
      for (let k = 50; k < 60; k++) {
        sec.rtp(udp(packets[k], 1 + i * 0.02 + 0.001 * (k - 49), A, B));
        replayed.push(frame);
      }
    }
  }
  const f = sec.findings().filter((x) => x.kind === 'rtp-replay');
  assert.deepEqual(kinds(sec.findings()), ['rtp-replay']);
  assert.deepEqual(f[0].frames, replayed);
  assert.match(f[0].text, /10 packets repeat an earlier packet/);

  // Older than the packets remembered: sequence numbers and timestamps far behind.
  const stale = new SecurityFindings();
  stream(stale, 1500, A, B, 0x42);
  for (let k = 0; k < 5; k++) {
    stale.rtp(udp(rtp(1000 + k, 160 * k, 0x42, 9), 40 + k * 0.02, A, B));
  }
  const g = stale.findings().filter((x) => x.kind === 'rtp-replay');
  assert.equal(g.length, 1);
  assert.match(g[0].text, /5 packets carry sequence numbers and timestamps far behind/);
});

const REGISTRAR = '192.0.2.1';

function sipText(lines: string[], body = ''): Buffer {
  return Buffer.from(
    lines.join('\r\n') + `\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n` + body,
  );
}

function origin(src: string, dst: string, t: number, transport = 'UDP'): MessageOrigin {
  const [sa, sp] = src.split(':');
  const [da, dp] = dst.split(':');
  return {
    frame: ++frame,
    ts: t,
    src: sa,
    srcPort: Number(sp),
    dst: da,
    dstPort: Number(dp),
    transport,
  };
}

function register(
  user: string,
  contactHost: string,
  callId: string,
  cseq: number,
  auth: boolean,
  via = contactHost,
): Buffer {
  return sipText([
    `REGISTER sip:${REGISTRAR} SIP/2.0`,
    `Via: SIP/2.0/UDP ${via}:5060;branch=z9hG4bK${callId}${cseq}`,
    'Max-Forwards: 70',
    `From: <sip:${user}@${REGISTRAR}>;tag=f${callId}`,
    `To: <sip:${user}@${REGISTRAR}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:${user}@${contactHost}:5060>`,
    'Expires: 3600',
    ...(auth
      ? [
          `Authorization: Digest username="${user}", realm="r", nonce="n", uri="sip:${REGISTRAR}", response="0123456789abcdef0123456789abcdef"`,
        ]
      : []),
  ]);
}

function reply(status: number, reason: string, request: Buffer): Buffer {
  const text = request.toString();
  const header = (name: string) => new RegExp(`^${name}: .*$`, 'm').exec(text)![0];
  return sipText([
    `SIP/2.0 ${status} ${reason}`,
    header('Via'),
    header('From'),
    header('To') + ';tag=srv',
    header('Call-ID'),
    header('CSeq'),
  ]);
}

test('a binding moved by a REGISTER without credentials that got 200 is a hijack', () => {
  const sec = new SecurityFindings();
  const phone = register('2000', '10.1.1.5', 'c1', 1, true);
  sec.sip(phone, origin('10.1.1.5:5060', `${REGISTRAR}:5060`, 1));
  sec.sip(reply(200, 'OK', phone), origin(`${REGISTRAR}:5060`, '10.1.1.5:5060', 1.01));
  // The phone re-registers with credentials from the same place: nothing.
  const again = register('2000', '10.1.1.5', 'c1', 2, true);
  sec.sip(again, origin('10.1.1.5:5060', `${REGISTRAR}:5060`, 30));
  const f1 = frame; // the binding as it last stood
  sec.sip(reply(200, 'OK', again), origin(`${REGISTRAR}:5060`, '10.1.1.5:5060', 30.01));
  assert.deepEqual(kinds(sec.findings()), []);
  // Another phone of another user moving with credentials: nothing either.
  const moved = register('2001', '10.1.1.7', 'c3', 1, true);
  sec.sip(moved, origin('10.1.1.7:5060', `${REGISTRAR}:5060`, 31));
  sec.sip(reply(200, 'OK', moved), origin(`${REGISTRAR}:5060`, '10.1.1.7:5060', 31.01));
  const moved2 = register('2001', '10.1.1.8', 'c4', 1, true);
  sec.sip(moved2, origin('10.1.1.8:5060', `${REGISTRAR}:5060`, 32));
  sec.sip(reply(200, 'OK', moved2), origin(`${REGISTRAR}:5060`, '10.1.1.8:5060', 32.01));
  assert.deepEqual(kinds(sec.findings()), []);

  const evil = register('2000', '10.1.1.66', 'c2', 1, false);
  sec.sip(evil, origin('10.1.1.66:5060', `${REGISTRAR}:5060`, 60));
  const f2 = frame;
  sec.sip(reply(200, 'OK', evil), origin(`${REGISTRAR}:5060`, '10.1.1.66:5060', 60.01));
  const f3 = frame;
  const found = sec.findings().filter((x) => x.kind === 'registration-hijack');
  assert.equal(found.length, 1);
  assert.equal(found[0].severity, 'high');
  assert.match(found[0].text, /2000@192\.0\.2\.1 moved from 10\.1\.1\.5:5060 to 10\.1\.1\.66:5060/);
  assert.deepEqual(found[0].frames, [f1, f2, f3]);
});

test('many users refused from one source is a scanner; a PBX registering its users is not', () => {
  const sec = new SecurityFindings();
  // A PBX registers 30 users: each challenged (401), then accepted with credentials.
  for (let u = 0; u < 30; u++) {
    const first = register(`3${u}`, '10.2.0.1', `pbx${u}`, 1, false);
    sec.sip(first, origin('10.2.0.1:5060', `${REGISTRAR}:5060`, 100 + u));
    sec.sip(
      reply(401, 'Unauthorized', first),
      origin(`${REGISTRAR}:5060`, '10.2.0.1:5060', 100 + u),
    );
    const second = register(`3${u}`, '10.2.0.1', `pbx${u}`, 2, true);
    sec.sip(second, origin('10.2.0.1:5060', `${REGISTRAR}:5060`, 100.1 + u));
    sec.sip(reply(200, 'OK', second), origin(`${REGISTRAR}:5060`, '10.2.0.1:5060', 100.1 + u));
  }
  // A phone with a wrong password, retrying every minute for 20 minutes.
  for (let k = 0; k < 20; k++) {
    const r = register('4000', '10.2.0.7', 'wrongpw', 2 * k + 1, true);
    sec.sip(r, origin('10.2.0.7:5060', `${REGISTRAR}:5060`, 200 + 60 * k));
    sec.sip(
      reply(401, 'Unauthorized', r),
      origin(`${REGISTRAR}:5060`, '10.2.0.7:5060', 200 + 60 * k),
    );
  }
  assert.deepEqual(kinds(sec.findings()), []);
  // A scanner tries 12 users and is refused (404) for each.
  const tries: number[] = [];
  for (let u = 0; u < 12; u++) {
    const r = register(`10${u}`, '10.2.0.66', `scan${u}`, 1, false);
    sec.sip(r, origin('10.2.0.66:5060', `${REGISTRAR}:5060`, 2000 + u * 0.01));
    tries.push(frame);
    sec.sip(
      reply(404, 'Not Found', r),
      origin(`${REGISTRAR}:5060`, '10.2.0.66:5060', 2000 + u * 0.01),
    );
  }
  const found = sec.findings();
  assert.deepEqual(kinds(found), ['scanner']);
  assert.match(
    found[0].text,
    /10\.2\.0\.66 tried 12 different users \(100, 101, 102, 103, 104, \.\.\.\) and was refused every time/,
  );
  assert.deepEqual(found[0].frames, tries);
});

function invite(via: string, from: string, vias = 1): Buffer {
  return sipText([
    `INVITE sip:bob@${REGISTRAR} SIP/2.0`,
    ...Array.from(
      { length: vias },
      (_, i) => `Via: SIP/2.0/UDP ${i === 0 ? via : '10.9.9.9'}:5060;branch=z9hG4bK${++frame}`,
    ),
    'Max-Forwards: 70',
    `From: <sip:alice@${from}>;tag=1`,
    `To: <sip:bob@${REGISTRAR}>`,
    `Call-ID: inv${frame}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:alice@${via}>`,
  ]);
}

test('Via sent-by or From host naming another address of the same scope is spoofing; NAT is not', () => {
  const sec = new SecurityFindings();
  // NAT: private Via from a public source; a server announcing its public address from a private
  // one; the From host being the registrar (the destination); a proxy forwarding with two Vias.
  sec.sip(
    invite('192.168.1.20', 'example.com'),
    origin('203.0.113.5:5060', `${REGISTRAR}:5060`, 1),
  );
  sec.sip(invite('198.51.100.1', REGISTRAR), origin('10.0.0.5:5060', `${REGISTRAR}:5060`, 2));
  sec.sip(invite('10.0.0.5', '10.0.0.7', 2), origin('10.0.0.5:5060', '10.0.0.1:5060', 3));
  assert.deepEqual(kinds(sec.findings()), []);

  sec.sip(
    invite('198.51.100.7', 'example.com'),
    origin('203.0.113.5:5060', `${REGISTRAR}:5060`, 4),
  );
  const v = frame;
  sec.sip(invite('10.0.0.5', '10.0.0.77'), origin('10.0.0.5:5060', '10.0.0.1:5060', 5));
  const fr = frame;
  const found = sec.findings().filter((x) => x.kind === 'spoofing');
  assert.equal(found.length, 2);
  const via = found.find((x) => x.text.includes('198.51.100.7'))!;
  assert.match(via.text, /from 203\.0\.113\.5 claim to come from 198\.51\.100\.7 \(Via sent-by\)/);
  assert.deepEqual(via.frames, [v]);
  const fromHost = found.find((x) => x.text.includes('10.0.0.77'))!;
  assert.match(fromHost.text, /\(From host\)/);
  assert.deepEqual(fromHost.frames, [fr]);
});

test('SDES keys in cleartext SIP are exposed; cleartext is one info finding naming TLS and SRTP', () => {
  const sec = new SecurityFindings();
  const sdp = [
    'v=0',
    'o=- 1 1 IN IP4 10.0.0.1',
    's=-',
    'c=IN IP4 10.0.0.1',
    't=0 0',
    'm=audio 4000 RTP/SAVP 0',
    'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz',
    '',
  ].join('\r\n');
  const msg = sipText(
    [
      `INVITE sip:bob@${REGISTRAR} SIP/2.0`,
      'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsdes',
      'Max-Forwards: 70',
      `From: <sip:alice@${REGISTRAR}>;tag=1`,
      `To: <sip:bob@${REGISTRAR}>`,
      'Call-ID: sdes',
      'CSeq: 1 INVITE',
      'Contact: <sip:alice@10.0.0.1>',
      'Content-Type: application/sdp',
    ],
    sdp,
  );
  sec.sip(msg, origin('10.0.0.1:5060', `${REGISTRAR}:5060`, 1));
  // SRTP to the SAVP endpoint is not cleartext media.
  for (let i = 0; i < 10; i++) sec.rtp(udp(rtp(i, 160 * i, 5), 1 + i * 0.02, B, '10.0.0.1:4000'));
  const f = sec.findings();
  assert.deepEqual(
    f.map((x) => [x.kind, x.severity]),
    [
      ['srtp-keys-exposed', 'medium'],
      ['cleartext', 'info'],
    ],
  );
  assert.match(f[1].text, /signalling in cleartext \(1 SIP message over UDP\)/);
  assert.doesNotMatch(f[1].text, /RTP packet/);
  assert.match(f[1].text, /TLS/);

  // Media alone: SRTP is what to switch on.
  const media = new SecurityFindings();
  stream(media, 5, A, B, 9);
  const [clear] = media.findings();
  assert.equal(clear.kind, 'cleartext');
  assert.equal(clear.frameCount, 5);
  assert.match(clear.text, /media in cleartext \(5 RTP packets\).*SRTP/);
  assert.match(renderFindingsText(media.findings()), /INFO {3}cleartext/);
});

test('frame lists stay capped however long the attack', () => {
  const sec = new SecurityFindings();
  for (let i = 0; i < 5000; i++) {
    sec.rtp(udp(rtp(1000 + i, 160 * i, 0x5, i), 1 + i * 0.02, A, B));
    sec.rtp(udp(rtp(1000 + i, 160 * i, 0x5, 0), 1 + i * 0.02 + 0.01, EVIL, B));
  }
  const [f] = sec.findings().filter((x) => x.kind === 'rtp-injection');
  assert.equal(f.frames.length, MAX_FINDING_FRAMES);
  assert.equal(f.frameCount, 5000);
  assert.match(renderFindingsText([f]), /\(5000 in all\)/);
});

test('addresses: canonical forms and scopes', () => {
  assert.equal(canonicalIp('[2001:DB8:0:0::1]'), '2001:db8::1');
  assert.equal(canonicalIp('10.0.0.1'), '10.0.0.1');
  assert.equal(canonicalIp('pbx.example.com'), undefined);
  assert.equal(addressScope('127.0.0.1'), 'loopback');
  assert.equal(addressScope('172.20.1.1'), 'private');
  assert.equal(addressScope('100.100.0.1'), 'private');
  assert.equal(addressScope('fd00::1'), 'private');
  assert.equal(addressScope('8.8.8.8'), 'public');
  assert.equal(addressScope('2001:db8::1'), 'public');
});
