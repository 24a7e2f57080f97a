// One call saved on its own, as the terminal view's keys do: its SIP messages as a pcap (frames
// rebuilt from the kept message bytes and addresses, as sngrep saves SIP only), its HTML report,
// its text ladder with RTP streams. Needs the messages' bytes (keepRaw).
import { LinkType, PacketFrames, writePcap } from '../capture/index.ts';
import type { LadderCall, Report } from '../render/model.ts';
import type { CallRecord } from './call-tracker.ts';

/** 'ip:port' or '[v6]:port' back to address and port. */
function endpoint(id: string): { address: string; port: number } {
  const at = id.lastIndexOf(':');
  const address = id.slice(0, at).replace(/^\[|\]$/g, '');
  return { address, port: Number(id.slice(at + 1)) };
}

/** The call's SIP messages as a pcap (link type RAW): UDP, or TCP for stream transports. */
export function callPcap(record: CallRecord): Buffer {
  const frames = new PacketFrames();
  const out = [];
  for (const m of record.messages) {
    if (!m.raw) continue;
    const src = endpoint(m.from);
    const dst = endpoint(m.to);
    const data = frames.frame({
      proto: m.transport === 'UDP' || m.transport === 'HEP' ? 'udp' : 'tcp',
      src: src.address,
      srcPort: src.port,
      dst: dst.address,
      dstPort: dst.port,
      payload: m.raw,
    });
    out.push({ ts: m.ts, data });
  }
  return writePcap(out, { linkType: LinkType.RAW });
}

/** The render layer's report of one call (for renderHtmlReport): the call with its streams. */
export function callReportModel(call: LadderCall, title: string): Report {
  return { title, calls: [call], rtpStreams: [], findings: [], audio: {}, warnings: [] };
}
