// SDP as the media relay sees it: where each stream of a party wants its media (read), and the
// same description with the relay's address and ports put in (write).
//
//   m=audio 49170 RTP/AVP 0 8 101      <- the port of stream i becomes the relay port for i
//   c=IN IP4 192.0.2.10                <- every c= (session or media level) becomes the relay's
//   a=rtcp:49171 IN IP4 192.0.2.10     <- RFC 3605: relay port + 1 (and the relay's address)
//
// The rewrite works on the lines of the text and changes only those lines, so everything the
// relay does not understand (b=, k=, ICE, fingerprints, vendor attributes) passes unchanged and
// the line ends stay as they were. Streams with port 0 (rejected or disabled, RFC 3264 section 6)
// are left alone, their c= included. A c= holding the unspecified address (0.0.0.0 or ::, the
// old RFC 2543 hold) is kept as it is, so the hold still reads as a hold.

import { isIP } from 'node:net';
import {
  mediaAddress,
  mediaCodecs,
  parseSdp,
  type AddressType,
  type RtpMap,
} from '../media/index.ts';

/** Where one stream of a party wants its media (one m= line). */
export interface SdpMediaEndpoint {
  /** Position of the m= line (0-based). */
  index: number;
  /** audio, video, ... */
  type: string;
  /** RTP port; 0 when the stream is disabled. */
  port: number;
  /** Effective connection address (media-level c=, else session-level c=). */
  address?: string;
  addressType?: AddressType;
  /** RTCP port: a=rtcp, else port + 1 (RFC 3550 section 11). */
  rtcpPort: number;
  /** RTCP address when a=rtcp names one, else the stream's address. */
  rtcpAddress?: string;
  /** a=rtcp-mux (RFC 5761) present. */
  rtcpMux: boolean;
  /** Codec of every format of the m= line, in order. */
  codecs: RtpMap[];
}

const UNSPECIFIED = new Set(['0.0.0.0', '::']);

/** Whether an address is the unspecified one (0.0.0.0, ::), i.e. "do not send to me". */
export function isUnspecifiedAddress(address: string | undefined): boolean {
  return address === undefined || UNSPECIFIED.has(address);
}

/** Reads the media endpoints of an SDP body. Throws SdpParseError when it is not SDP. */
export function sdpMediaEndpoints(text: string): SdpMediaEndpoint[] {
  const sdp = parseSdp(text);
  return sdp.media.map((m, index) => {
    const connection = mediaAddress(sdp, m);
    const endpoint: SdpMediaEndpoint = {
      index,
      type: m.type,
      port: m.port,
      rtcpPort: m.rtcp?.port ?? m.port + 1,
      rtcpMux: m.rtcpMux,
      codecs: mediaCodecs(m),
    };
    if (connection) {
      endpoint.address = connection.address;
      endpoint.addressType = connection.addressType;
    }
    const rtcpAddress = m.rtcp?.connection?.address ?? connection?.address;
    if (rtcpAddress !== undefined) endpoint.rtcpAddress = rtcpAddress;
    return endpoint;
  });
}

export interface SdpRewrite {
  /** The relay's address (IPv4 or IPv6 literal) written into c= and a=rtcp. */
  address: string;
  /**
   * RTP port of the relay for each m= line, by index; RTCP is that port + 1. An m= line without
   * a port here (undefined, or beyond the array) is left alone.
   */
  ports: ReadonlyArray<number | undefined>;
}

const C_LINE = /^c=IN (IP4|IP6) (\S+)(.*)$/;
const M_LINE = /^m=(\S+) (\d+)((?:\/\d+)? .*)$/;
const RTCP_LINE = /^a=rtcp:(\d+)(?: IN (IP4|IP6) (\S+))?(.*)$/;
/** Lines that RFC 4566 section 5 puts after c= in a media section. */
const AFTER_C = /^[bka]=/;

/**
 * Returns the SDP with each relayed stream's port, connection address and a=rtcp pointing at the
 * relay. The o= line is kept (so sess-version keeps its meaning across re-INVITEs).
 */
export function rewriteSdp(text: string, rewrite: SdpRewrite): string {
  const family = isIP(rewrite.address);
  if (family === 0) throw new TypeError(`relay address ${rewrite.address} is not an IP literal`);
  const relayConnection = `c=IN ${family === 6 ? 'IP6' : 'IP4'} ${rewrite.address}`;
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const endsWithEol = /\r?\n$/.test(text);
  const lines = text.split(/\r\n|\n/);
  if (endsWithEol) lines.pop();

  const out: string[] = [];
  let section = -1; // -1: session level
  let relayed = false; // the current media section is relayed
  let sectionHasC = false;
  let sessionHasC = false;
  let port = 0;

  const closeSection = () => {
    // A relayed stream must say where to send: add a c= when neither level had one.
    if (section >= 0 && relayed && !sectionHasC && !sessionHasC) {
      let at = out.length;
      while (at > 0 && AFTER_C.test(out[at - 1]!)) at--;
      out.splice(at, 0, relayConnection);
    }
  };

  for (const line of lines) {
    if (line.startsWith('m=')) {
      closeSection();
      section++;
      sectionHasC = false;
      const m = M_LINE.exec(line);
      const wanted = rewrite.ports[section];
      relayed = m !== null && Number(m[2]) !== 0 && wanted !== undefined;
      if (relayed) {
        port = wanted!;
        out.push(`m=${m![1]} ${port}${m![3]}`);
      } else {
        out.push(line);
      }
      continue;
    }
    if (line.startsWith('c=')) {
      if (section < 0) sessionHasC = true;
      else sectionHasC = true;
      const c = C_LINE.exec(line);
      const rewritable = c !== null && !UNSPECIFIED.has(c[2]!) && (section < 0 || relayed);
      out.push(rewritable ? relayConnection : line);
      continue;
    }
    if (relayed && line.startsWith('a=rtcp:')) {
      const r = RTCP_LINE.exec(line);
      if (r) {
        const where = r[2] !== undefined ? ` ${relayConnection.slice(2)}` : '';
        out.push(`a=rtcp:${port + 1}${where}${r[4]}`);
        continue;
      }
    }
    out.push(line);
  }
  closeSection();
  return out.join(eol) + (endsWithEol ? eol : '');
}
