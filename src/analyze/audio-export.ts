// Audio of G.711 streams, laid out the way Wireshark's RTP player exports it: every packet's
// samples go where its RTP timestamp says (RFC 3550 §5.1: the timestamp counts sampling instants
// of the first octet), so lost or missing packets leave silence and the length follows from the
// first and last timestamps, not from the packet count.
//
// A call's stereo file puts what the caller sent on the left and what the callee sent on the
// right. The two directions have unrelated timestamp bases, so each stream is first placed by
// the arrival time of its first packet (relative to the call's first G.711 packet), then by its
// own timestamps from there.
import { g711Decode, writeWav } from '../media/index.ts';
import type { CallMedia } from './call-tracker.ts';
import type { KeptRtpPacket, RtpStream } from './rtp-tracker.ts';

export const G711_RATE = 8000;
/** Packets whose timestamp lies further than this from the stream's first are ignored. */
const MAX_SPAN_SAMPLES = G711_RATE * 60 * 60 * 4;

/** Signed distance a - b between two 32-bit RTP timestamps. */
function timestampDistance(a: number, b: number): number {
  return ((a - b) | 0) as number;
}

interface Placed {
  /** Sample index (relative to the stream's earliest timestamp) and decoded samples. */
  at: number;
  samples: Int16Array;
}

function placePackets(
  stream: RtpStream,
  kept: KeptRtpPacket[],
): { placed: Placed[]; length: number } {
  if (kept.length === 0) return { placed: [], length: 0 };
  const ref = kept[0].timestamp;
  let min = 0;
  const offsets: number[] = [];
  for (const k of kept) {
    const d = timestampDistance(k.timestamp, ref);
    offsets.push(d);
    if (Math.abs(d) <= MAX_SPAN_SAMPLES && d < min) min = d;
  }
  const placed: Placed[] = [];
  let length = 0;
  for (let i = 0; i < kept.length; i++) {
    const d = offsets[i];
    if (Math.abs(d) > MAX_SPAN_SAMPLES) continue;
    const law = stream.formatOf(kept[i].payloadType)?.name.toUpperCase();
    if (law !== 'PCMU' && law !== 'PCMA') continue;
    const samples = g711Decode(law, kept[i].payload);
    const at = d - min;
    placed.push({ at, samples });
    if (at + samples.length > length) length = at + samples.length;
  }
  return { placed, length };
}

/** Mono 16-bit samples of one G.711 stream, silence where packets are missing. */
export function streamSamples(stream: RtpStream): Int16Array {
  const { placed, length } = placePackets(stream, stream.kept ?? []);
  const out = new Int16Array(length);
  for (const p of placed) out.set(p.samples, p.at);
  return out;
}

/** WAV file (8 kHz mono) of one G.711 stream; undefined when it kept no audio. */
export function streamWav(stream: RtpStream): Buffer | undefined {
  if (!stream.kept || stream.kept.length === 0) return undefined;
  return writeWav({ sampleRate: G711_RATE, channels: [streamSamples(stream)] });
}

/**
 * Which side sent a stream: the caller sends to the media endpoints the callee announced (and
 * usually from the one it announced itself).
 */
export function streamSide(stream: RtpStream, media: CallMedia): 'caller' | 'callee' | undefined {
  const has = (list: CallMedia['caller'], address: string, port: number): boolean =>
    list.some((e) => e.address === address && e.port === port);
  if (has(media.callee, stream.dst, stream.dstPort)) return 'caller';
  if (has(media.caller, stream.dst, stream.dstPort)) return 'callee';
  if (has(media.caller, stream.src, stream.srcPort)) return 'caller';
  if (has(media.callee, stream.src, stream.srcPort)) return 'callee';
  return undefined;
}

/**
 * Stereo WAV of a call: left = caller's streams, right = callee's. Undefined when none of the
 * call's streams kept audio.
 */
export function callWav(streams: RtpStream[], media: CallMedia): Buffer | undefined {
  const withAudio = streams.filter((s) => s.kept && s.kept.length > 0);
  if (withAudio.length === 0) return undefined;
  const start = Math.min(...withAudio.map((s) => s.kept![0].arrival));
  const channels: Placed[][] = [[], []];
  let length = 0;
  withAudio.forEach((s, i) => {
    const side = streamSide(s, media) ?? (i === 0 ? 'caller' : 'callee');
    const { placed } = placePackets(s, s.kept!);
    // placePackets measures from the stream's earliest timestamp; the first kept packet sits at
    // placed offset (first timestamp - earliest), so shift by its arrival minus that offset.
    const firstAt = placed.length > 0 ? placed[0].at : 0;
    const shift = Math.max(0, Math.round((s.kept![0].arrival - start) * G711_RATE) - firstAt);
    const channel = channels[side === 'caller' ? 0 : 1];
    for (const p of placed) {
      channel.push({ at: p.at + shift, samples: p.samples });
      if (p.at + shift + p.samples.length > length) length = p.at + shift + p.samples.length;
    }
  });
  const out = channels.map((placed) => {
    const samples = new Int16Array(length);
    for (const p of placed) samples.set(p.samples, p.at);
    return samples;
  });
  return writeWav({ sampleRate: G711_RATE, channels: out });
}
