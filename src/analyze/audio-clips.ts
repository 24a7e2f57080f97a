// The audio of an analysis as named WAV clips: one per G.711 stream and one stereo clip per call
// that has G.711 streams (see audio-export.ts). Each clip's id is set on the stream summary
// (audioId) and the call (audioId) of the report, so that the HTML report can put a player there.
import type { AnalysisReport } from './analysis-report.ts';
import { formatSsrc } from './analysis-report.ts';
import { callWav, streamWav } from './audio-export.ts';
import type { CaptureAnalysis } from './capture-analysis.ts';
import type { RtpStream } from './rtp-tracker.ts';

export interface AudioClip {
  id: string;
  /** A file name for the clip: 'stream-0x1234abcd-10.0.0.1_4000-10.0.0.2_5000.wav'. */
  fileName: string;
  kind: 'stream' | 'call';
  wav: Buffer;
  ssrc?: string;
  callId?: string;
}

function safe(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
}

/** Builds the clips and links them into the report (streams and calls it shows). */
export function collectAudio(analysis: CaptureAnalysis, report: AnalysisReport): AudioClip[] {
  const clips: AudioClip[] = [];
  const summaryOf = new Map(report.rtpStreams.map((s) => [`${s.ssrc} ${s.src} ${s.dst}`, s]));
  const byCall = new Map<string, RtpStream[]>();
  analysis.rtp.streams.forEach((stream, index) => {
    const summary = summaryOf.get(`${formatSsrc(stream.ssrc)} ${stream.srcId} ${stream.dstId}`);
    if (!summary) return;
    const wav = streamWav(stream);
    if (!wav) return;
    const id = `stream-${index + 1}`;
    summary.audioId = id;
    clips.push({
      id,
      fileName: `stream-${summary.ssrc}-${safe(summary.src)}-${safe(summary.dst)}.wav`,
      kind: 'stream',
      wav,
      ssrc: summary.ssrc,
      ...(stream.callId !== null ? { callId: stream.callId } : {}),
    });
    if (stream.callId !== null) {
      const list = byCall.get(stream.callId);
      if (list) list.push(stream);
      else byCall.set(stream.callId, [stream]);
    }
  });
  report.calls.forEach((call, index) => {
    const streams = byCall.get(call.callId);
    const record = analysis.calls.calls.get(call.callId);
    if (!streams || !record) return;
    const wav = callWav(streams, record.media);
    if (!wav) return;
    const id = `call-${index + 1}`;
    call.audioId = id;
    for (const s of call.rtp) {
      const linked = report.rtpStreams.find(
        (r) => r.ssrc === s.ssrc && r.src === s.src && r.dst === s.dst,
      );
      if (linked?.audioId) s.audioId = linked.audioId;
    }
    clips.push({
      id,
      fileName: `call-${safe(call.callId)}.wav`,
      kind: 'call',
      wav,
      callId: call.callId,
    });
  });
  return clips;
}
