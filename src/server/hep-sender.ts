// HEP out (config `hep: { collector: udp:HOST:PORT, id: N }`): every SIP message the server sends
// or receives, as one HEPv3 datagram to a collector (HOMER's heplify-server, Kamailio's sipcapture,
// sngrep -L), as Kamailio's siptrace module does. Fire and forget over UDP: a collector that is
// down costs the server one send per message and nothing else.
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { encodeHep3 } from '../capture/index.ts';
import type { Endpoint } from '../transport/index.ts';

/** HEP chunk 11 for SIP. */
const HEP_PROTO_SIP = 1;
/** A HEP3 message's total length is 16 bits: room for the chunks besides the payload. */
const MAX_PAYLOAD = 0xffff - 200;

export interface HepCollector {
  host: string;
  port: number;
}

/** 'udp:HOST:PORT' (also '[v6]' and without the 'udp:') to host and port; throws if malformed. */
export function parseHepCollector(text: string): HepCollector {
  const m = /^(?:udp:)?(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535)
    throw new Error(`hep.collector "${text}" is not udp:HOST:PORT`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

export interface HepStats {
  sent: number;
  /** Messages that could not be encoded or sent. */
  failed: number;
}

export class HepSender {
  readonly collector: HepCollector;
  readonly stats: HepStats = { sent: 0, failed: 0 };
  private readonly socket: Socket;

  constructor(opts: { collector: string; id: number }) {
    this.collector = parseHepCollector(opts.collector);
    this.captureId = opts.id;
    this.socket = createSocket(isIP(this.collector.host) === 6 ? 'udp6' : 'udp4');
    this.socket.on('error', () => this.stats.failed++);
    this.socket.unref();
  }

  private readonly captureId: number;

  /** Sends one SIP message (ts in milliseconds since the epoch) seen between src and dst. */
  sip(ts: number, src: Endpoint, dst: Endpoint, payload: Buffer): void {
    if (payload.length > MAX_PAYLOAD) {
      this.stats.failed++;
      return;
    }
    let datagram: Buffer;
    try {
      datagram = encodeHep3({
        src: src.address,
        dst: dst.address,
        srcPort: src.port,
        dstPort: dst.port,
        proto: src.protocol === 'udp' ? 'udp' : 'tcp',
        ts: ts / 1000,
        captureId: this.captureId,
        payloadType: HEP_PROTO_SIP,
        payload,
      });
    } catch {
      this.stats.failed++;
      return;
    }
    this.socket.send(datagram, this.collector.port, this.collector.host, (err) => {
      if (err) this.stats.failed++;
      else this.stats.sent++;
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
