// `trapezoid analyze CAPTURE`: calls, SIP statistics, RTP streams, ladders, audio and reports of
// a pcap/pcapng file. Thin: flags are parsed here, the work is src/analyze's, the drawing
// src/render's.
//
// Exit codes: 0 when the capture was analysed, also when it is truncated or broken part way (the
// frames before the break are analysed, a warning says where it broke and one line goes to
// stderr); 2 on usage errors (bad flags or filter, a file that cannot be read or is not a
// capture at all); 1 on an unexpected failure.
import { Command, Option } from 'commander';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import cliProgress from 'cli-progress';
import {
  analysisJson,
  analyzeCaptureFile,
  buildReport,
  collectAudio,
  defaultCall,
  FILTER_HELP,
  FilterSyntaxError,
  parseFilter,
  renderFindingsText,
  renderRtpTable,
  selectCallById,
  callJson,
  LiveSession,
} from '../analyze/index.ts';
import type {
  AnalysisReport,
  AudioClip,
  FilterTerm,
  FinishedCall,
  LiveSource,
  LiveStarted,
  SecurityFinding,
} from '../analyze/index.ts';
import { parseHepAddress } from '../capture/index.ts';
import { loadCallView } from '../tui/index.ts';
import {
  renderCallList,
  renderHtmlReport,
  renderMermaid,
  renderStats,
  renderSvgCalls,
  renderText,
} from '../render/index.ts';
import type { LadderCall, Report } from '../render/index.ts';

const FORMATS = ['text', 'svg', 'html', 'mermaid', 'json'] as const;
type Format = (typeof FORMATS)[number];
/** Files smaller than this finish too fast for a progress bar to help. */
const PROGRESS_MIN_BYTES = 16 * 1024 * 1024;
const MAX_TEXT_WARNINGS = 20;
/** Width a ladder may take with --wide. */
const WIDE_LADDER = 240;

interface AnalyzeFlags {
  calls?: boolean;
  ladder?: string | boolean;
  format: Format;
  rtp?: boolean;
  security?: boolean;
  wav?: string;
  filter?: string;
  options: boolean;
  output?: string;
  json?: boolean;
  wide?: boolean;
  live?: string;
  bpf?: string;
  hep?: string;
  write?: string;
  writeSize?: string;
  writeFiles?: string;
  limit?: string;
  tui?: boolean;
  duration?: string;
}

export function register(program: Command): void {
  program
    .command('analyze')
    .description(
      'analyse a pcap/pcapng capture: calls, SIP statistics, RTP streams, ladders, audio',
    )
    .argument('[capture]', "pcap or pcapng file, or '-' for a capture streamed on stdin")
    .showHelpAfterError('(trapezoid analyze --help for usage)')
    .option('--calls', 'list the calls (like Wireshark VoIP Calls)')
    .option(
      '--ladder [call-id]',
      'ladder diagram of every call, or of one call: its Call-ID, or a unique prefix or piece of it',
    )
    .addOption(
      new Option('--format <format>', 'output format').choices([...FORMATS]).default('text'),
    )
    .option('--rtp', 'list the RTP streams with loss, jitter, MOS and DTMF')
    .option(
      '--security',
      'security findings: scanners, brute force, registration hijack, spoofing, RTP injection and replay, cleartext',
    )
    .option('--wav <dir>', 'write a WAV per G.711 stream and a stereo WAV per call into DIR')
    .option('--filter <expr>', 'only calls matching EXPR (see below)')
    .option('--no-options', 'hide OPTIONS keep-alive exchanges')
    .option('-o, --output <file>', 'write the output to FILE instead of stdout')
    .option('--json', 'JSON output (same as --format json)')
    .option(
      '--wide',
      'never truncate From, To and Call-ID (the default when stdout is not a terminal)',
    )
    .option('--live <iface>', 'capture live from a network interface (through tcpdump or dumpcap)')
    .option('--bpf <expr>', "with --live: a capture filter (pcap-filter), e.g. 'udp port 5060'")
    .option('--hep <udp:addr:port>', 'collect HEPv3 (Kamailio siptrace, heplify, sngrep -H)')
    .option('--write <file>', 'live: save what is captured as pcap')
    .option('--write-size <MB>', 'with --write: start a new file (FILE.1, FILE.2...) past MB')
    .option('--write-files <n>', 'with --write-size: keep only the newest N files')
    .option(
      '--limit <calls>',
      'live: calls kept in memory, the oldest finished dropped first',
      '10000',
    )
    .option('--tui', 'live: the terminal view (the default when stdout is a terminal)')
    .option('--no-tui', 'live: one JSON line per finished call even on a terminal')
    .option('--duration <seconds>', 'live: stop after SECONDS')
    .addHelpText(
      'after',
      `
With no selection flag: the call list, SIP statistics and RTP streams.
Live (--live IFACE, --hep udp:ADDR:PORT, or '-' for pcap on stdin): on a terminal, a call list
that updates as calls come (Enter: the call's ladder, message, RTP and DTMF); piped, one JSON line
per finished call {"event":"call","call":{...},"rtpStreams":[...]}, per finding with --security
{"event":"finding",...}, and {"event":"end",...} when the capture ends (Ctrl-C, --duration, EOF).
--format html writes a self-contained report (ladders, streams, audio players, security findings).
--security adds "findings" to --json: [{kind, severity, text, frames, frameCount}].
--filter selects calls, and with them the SIP statistics and RTP streams shown.
--format svg draws the calls selected by --ladder/--filter (all of them, one under the other);
with no selection, the first INVITE call. Messages that break the SIP grammar are read
tolerantly: kept in their calls, marked '!' in ladders, listed in the warnings.

${FILTER_HELP}

Exit status: 0 when analysed (also a capture broken part way: what precedes the break is
analysed and a warning says where it broke), 2 on usage errors or a file that is not a capture.`,
    )
    .action(async (capture: string | undefined, flags: AnalyzeFlags, command: Command) => {
      if (capture === '-' || flags.live !== undefined || flags.hep !== undefined) {
        await runLive(capture, flags, command);
        return;
      }
      if (capture === undefined) {
        command.error(
          'error: give a capture file, - (stdin), --live IFACE or --hep udp:ADDR:PORT',
          {
            exitCode: 2,
            code: 'trapezoid.usage',
          },
        );
      }
      await runAnalyze(capture!, flags, command);
    });
}

async function runAnalyze(capture: string, flags: AnalyzeFlags, command: Command): Promise<void> {
  const usage = (message: string): never =>
    command.error(`error: ${message}`, { exitCode: 2, code: 'trapezoid.usage' });

  for (const [flag, given] of [
    ['--write', flags.write],
    ['--write-size', flags.writeSize],
    ['--write-files', flags.writeFiles],
    ['--bpf', flags.bpf],
    ['--duration', flags.duration],
    ['--tui', flags.tui],
  ] as const) {
    if (given !== undefined) usage(`${flag} is for live analysis (-, --live or --hep)`);
  }
  const format: Format = flags.json ? 'json' : flags.format;
  let filter: FilterTerm[] = [];
  if (flags.filter !== undefined) {
    try {
      filter = parseFilter(flags.filter);
    } catch (err) {
      if (err instanceof FilterSyntaxError) usage(err.message);
      throw err;
    }
  }
  let size = 0;
  try {
    const st = statSync(capture);
    if (!st.isFile()) usage(`${capture} is not a file`);
    size = st.size;
  } catch (err) {
    if (err instanceof Error && 'code' in err && typeof err.code === 'string') {
      usage(`cannot read ${capture}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    }
    throw err;
  }

  const wantAudio = flags.wav !== undefined || format === 'html';
  // Message bytes are only shown by the HTML report and by JSON ladders.
  const keepRaw = format === 'html' || (format === 'json' && flags.ladder !== undefined);
  const bar = progressBar(size);
  const { analysis, frames, error } = await analyzeCaptureFile(capture, {
    keepRaw,
    keepAudio: wantAudio,
    // The HTML report always has its findings section; elsewhere findings are asked for.
    security: flags.security === true || format === 'html',
    onProgress: bar ? (done) => bar.update(done) : undefined,
  });
  bar?.stop();
  if (error && frames === 0 && error.offset === 0) {
    usage(`${capture} is not a pcap or pcapng capture: ${error.reason}`);
  }
  if (error) {
    process.stderr.write(
      `trapezoid: warning: capture broken at byte ${error.offset} after frame ${error.frame} (${error.reason}); showing the ${frames} frames before it\n`,
    );
  }

  const report = buildReport(analysis, {
    title: `SIP capture ${basename(capture)}`,
    source: capture,
    filter,
    hideOptions: flags.options === false,
  });

  let ladderCalls = report.calls;
  if (typeof flags.ladder === 'string') {
    const chosen = selectCallById(report.calls, flags.ladder);
    if ('error' in chosen) usage(chosen.error);
    else ladderCalls = chosen.calls;
  }

  let clips: AudioClip[] | undefined;
  if (wantAudio) clips = collectAudio(analysis, report);
  if (flags.wav !== undefined && clips) {
    mkdirSync(flags.wav, { recursive: true });
    for (const clip of clips) writeFileSync(join(flags.wav, clip.fileName), clip.wav);
    if (format !== 'json') {
      process.stderr.write(`trapezoid: wrote ${clips.length} WAV files to ${flags.wav}\n`);
    }
  }

  const output = render(format, flags, report, ladderCalls, clips, analysis);
  if (flags.output !== undefined) writeFileSync(flags.output, output);
  else process.stdout.write(output);
}

function render(
  format: Format,
  flags: AnalyzeFlags,
  report: AnalysisReport,
  ladderCalls: LadderCall[],
  clips: AudioClip[] | undefined,
  analysis: Parameters<typeof analysisJson>[0],
): string {
  const tty = flags.output === undefined && Boolean(process.stdout.isTTY);
  const color = tty;
  // On a terminal: its width. Piped or to a file: nothing truncated (a script reads whole values).
  const wide = flags.wide === true || !tty;
  const width = flags.wide ? WIDE_LADDER : process.stdout.columns || 120;
  switch (format) {
    case 'json': {
      const ladders =
        flags.ladder !== undefined ? new Set(ladderCalls.map((c) => c.callId)) : undefined;
      const json = analysisJson(analysis, report, { ladders, audio: clips, audioDir: flags.wav });
      return JSON.stringify(json, null, 2) + '\n';
    }
    case 'html': {
      const audio: Record<string, string> = {};
      for (const clip of clips ?? []) audio[clip.id] = clip.wav.toString('base64');
      return renderHtmlReport(renderModel(report, audio));
    }
    case 'svg': {
      if (ladderCalls.length === 0) return '';
      const selected = typeof flags.ladder === 'string' || flags.filter !== undefined;
      if (selected) return renderSvgCalls(ladderCalls);
      const first = defaultCall(ladderCalls)!;
      if (ladderCalls.length > 1) {
        process.stderr.write(
          `trapezoid: ${ladderCalls.length} calls; the SVG shows ${first.callId} (${first.firstMethod}); choose with --ladder CALL-ID or --filter\n`,
        );
      }
      return renderSvgCalls([first]);
    }
    case 'mermaid':
      return ladderCalls.map((c) => renderMermaid(c)).join('\n');
    case 'text': {
      const sections: string[] = [];
      const any = flags.calls || flags.rtp || flags.security || flags.ladder !== undefined;
      if (flags.calls || !any) {
        sections.push(renderCallList(report.calls, { color, width, wide }));
      }
      if (!any) sections.push(renderStats(report.stats, { color }));
      if (flags.rtp || !any) sections.push(renderRtpTable(report.rtpStreams));
      if (flags.ladder !== undefined) {
        for (const c of ladderCalls) sections.push(renderText(c, { color, width }));
      }
      if (flags.security) sections.push(renderFindingsText(report.findings));
      if (report.warnings.length > 0) {
        const shown = report.warnings.slice(0, MAX_TEXT_WARNINGS).map((w) => `  ${w}`);
        if (report.warnings.length > MAX_TEXT_WARNINGS) {
          shown.push(`  ... ${report.warnings.length - MAX_TEXT_WARNINGS} more (all in --json)`);
        }
        sections.push(`Warnings:\n${shown.join('\n')}\n`);
      }
      return sections.join('\n');
    }
  }
}

/** The render layer's Report: streams of shown calls hang under their calls, the rest apart. */
function renderModel(report: AnalysisReport, audio: Record<string, string>): Report {
  const shown = new Set(report.calls.map((c) => c.callId));
  return {
    title: report.title,
    ...(report.source ? { source: report.source } : {}),
    calls: report.calls,
    rtpStreams: report.rtpStreams.filter((s) => s.callId === null || !shown.has(s.callId)),
    stats: report.stats,
    findings: report.findings ?? [],
    audio,
    warnings: report.warnings,
  };
}

function progressBar(total: number): cliProgress.SingleBar | undefined {
  if (!process.stderr.isTTY || total < PROGRESS_MIN_BYTES) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      format: 'analysing [{bar}] {percentage}% | {value}/{total} bytes | eta {eta}s',
      stream: process.stderr,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return bar;
}

/** A positive whole number from a flag, or a usage error. */
function positive(
  name: string,
  value: string | undefined,
  usage: (m: string) => never,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) usage(`${name} ${value}: expected a positive number`);
  return n;
}

/** `analyze -`, `--live IFACE`, `--hep udp:ADDR:PORT`: the terminal view or JSON lines. */
async function runLive(
  capture: string | undefined,
  flags: AnalyzeFlags,
  command: Command,
): Promise<void> {
  const usage = (message: string): never =>
    command.error(`error: ${message}`, { exitCode: 2, code: 'trapezoid.usage' });
  const sources = [capture === '-', flags.live !== undefined, flags.hep !== undefined];
  if (sources.filter(Boolean).length > 1 || (capture !== undefined && capture !== '-')) {
    usage('give one source: a file, - (stdin), --live IFACE or --hep udp:ADDR:PORT');
  }
  const fileOnly: Array<[string, unknown]> = [
    ['--ladder', flags.ladder],
    ['--wav', flags.wav],
    ['--filter', flags.filter],
    ['--output', flags.output],
    ['--calls', flags.calls],
    ['--rtp', flags.rtp],
  ];
  for (const [flag, given] of fileOnly) {
    if (given !== undefined)
      usage(`${flag} is for a capture file (analyze the --write file with it)`);
  }
  if (flags.format !== 'text' && flags.format !== 'json') {
    usage(`--format ${flags.format} is for a capture file (analyze the --write file with it)`);
  }
  if (flags.bpf !== undefined && flags.live === undefined) usage('--bpf goes with --live IFACE');
  if (flags.write === undefined && (flags.writeSize ?? flags.writeFiles) !== undefined) {
    usage('--write-size and --write-files go with --write FILE');
  }
  let source: LiveSource;
  if (flags.hep !== undefined) {
    try {
      source = { kind: 'hep', address: parseHepAddress(flags.hep) };
    } catch (err) {
      usage((err as Error).message);
    }
  } else if (flags.live !== undefined) {
    source = { kind: 'interface', iface: flags.live, ...(flags.bpf ? { bpf: flags.bpf } : {}) };
  } else {
    if (process.stdin.isTTY)
      usage('- reads a capture from stdin: pipe one in (tcpdump -w - | ...)');
    source = { kind: 'stream', stream: process.stdin, name: 'stdin' };
  }
  const limit = positive('--limit', flags.limit, usage);
  const writeSize = positive('--write-size', flags.writeSize, usage);
  const writeFiles = positive('--write-files', flags.writeFiles, usage);
  const duration = positive('--duration', flags.duration, usage);
  const security = flags.security === true;
  const tui = flags.tui ?? (Boolean(process.stdout.isTTY) && !flags.json);
  const line = (value: unknown): void => {
    process.stdout.write(JSON.stringify(value) + '\n');
  };
  const session = new LiveSession({
    source: source!,
    maxCalls: limit,
    security,
    // The view shows messages and saves calls: it keeps their bytes.
    keepRaw: tui,
    ...(flags.write
      ? {
          write: {
            path: flags.write,
            limitBytes: writeSize !== undefined ? Math.round(writeSize * 1e6) : 0,
            files: writeFiles ?? 0,
          },
        }
      : {}),
    ...(duration !== undefined ? { durationSeconds: duration } : {}),
    ...(tui
      ? {}
      : {
          onCallEnd: (f: FinishedCall) =>
            line({ event: 'call', call: callJson(f.call), rtpStreams: f.rtpStreams }),
          onFinding: (finding: SecurityFinding) => line({ event: 'finding', finding }),
        }),
  });
  const stop = (): void => void session.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let started: LiveStarted;
  try {
    started = await session.start();
  } catch (err) {
    process.stderr.write(`trapezoid: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  if (tui) {
    const runCallView = await loadCallView();
    try {
      await runCallView(session, { started });
    } catch (err) {
      process.stderr.write(`trapezoid: ${(err as Error).message}\n`);
      process.exitCode = 2;
      await session.stop();
      return;
    }
  } else line({ event: 'listening', ...started });
  const end = await session.done;
  if (!tui) line({ event: 'end', ...end, error: end.error?.message });
  if (end.error && end.frames === 0) {
    process.stderr.write(
      `trapezoid: ${started.source} is not a pcap or pcapng capture: ${end.error.reason}\n`,
    );
    process.exitCode = 2;
  }
}
