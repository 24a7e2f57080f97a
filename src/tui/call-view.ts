// The terminal view of a live analysis (like sngrep): a call list that follows the capture,
// filtered as you type, OPTIONS hidden, a codec column; Enter opens a call: its ladder (one row
// per message, the selected one's text below), the RTP quality of its streams and its DTMF, and
// keys that save the call as pcap (its SIP), HTML or text.
//
// Built on Ink (React for the terminal): it redraws only what changed, handles resizes and raw
// keyboard input. Keys are read from the terminal even when stdin carries the capture
// (`tcpdump -w - | trapezoid analyze -`): /dev/tty is opened for them.
import { openSync, writeFileSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { join } from 'node:path';
import React, { useEffect, useState } from 'react';
import { Box, render, Text, useApp, useInput, useStdout } from 'ink';
import { callPcap, callReport, callReportModel, renderRtpTable } from '../analyze/index.ts';
import type { CallRecord, LiveSession, LiveStarted } from '../analyze/index.ts';
import { renderHtmlReport, renderText } from '../render/index.ts';
import type { LadderCall, LadderMessage } from '../render/index.ts';
import { CallRows } from './call-rows.ts';
import type { CallRow } from './call-rows.ts';

const h = React.createElement;
const REDRAW_MS = 500;
const HEADER_LINES = 4;
const MESSAGE_LINES = 12;

export interface CallViewOptions {
  started: LiveStarted;
  /** Where saved calls go (default: the working directory). */
  saveDir?: string;
}

/** Runs the view until the user quits (q) or the capture ends and the user quits. */
export async function runCallView(session: LiveSession, options: CallViewOptions): Promise<void> {
  let stdin: NodeJS.ReadStream | ReadStream;
  try {
    stdin = process.stdin.isTTY ? process.stdin : openTerminal();
  } catch {
    throw new Error('the terminal view reads keys from a terminal and there is none: use --no-tui');
  }
  const app = render(h(CallView, { session, options }), {
    stdin,
    exitOnCtrlC: false,
    patchConsole: false,
  });
  await app.waitUntilExit();
  if (stdin !== process.stdin) (stdin as ReadStream).destroy();
  await session.stop();
}

function openTerminal(): ReadStream {
  return new ReadStream(openSync('/dev/tty', 'r'));
}

interface Props {
  session: LiveSession;
  options: CallViewOptions;
}

function CallView({ session, options }: Props): React.ReactElement {
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [, setTick] = useState(0);
  const [rows] = useState(() => new CallRows());
  const [selected, setSelected] = useState(0);
  const [filter, setFilter] = useState('');
  const [typing, setTyping] = useState(false);
  const [hideOptions, setHideOptions] = useState(true);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [message, setMessage] = useState(0);
  const [status, setStatus] = useState('');
  const [ended, setEnded] = useState(false);

  useEffect(() => {
    // Redraw when something came (SIP changes rows; frames change counters and RTP numbers).
    let seen = '';
    const timer = setInterval(() => {
      const now = `${session.live.version} ${session.live.frames} ${session.live.reported}`;
      if (now !== seen) {
        seen = now;
        setTick((n) => n + 1);
      }
    }, REDRAW_MS);
    void session.done.then(() => setEnded(true));
    return () => clearInterval(timer);
  }, [session]);

  const width = stdout.columns || 120;
  const height = stdout.rows || 40;
  const live = session.live;
  const list = rows.rows(live, { hideOptions, filter });
  const sel = Math.min(selected, Math.max(0, list.length - 1));
  const record = open !== undefined ? live.analysis.calls.calls.get(open) : undefined;
  const detail = record ? callReport(live.analysis, record) : undefined;

  useInput((input, key) => {
    if (typing) {
      if (key.return || key.escape) setTyping(false);
      else if (key.backspace || key.delete) setFilter((f) => f.slice(0, -1));
      else if (input && !key.ctrl && !key.meta) setFilter((f) => f + input);
      setSelected(0);
      return;
    }
    if (key.ctrl && input === 'c') {
      exit();
      return;
    }
    if (detail && record) {
      const count = detail.call.messages.length;
      if (key.escape || input === 'q' || key.leftArrow) setOpen(undefined);
      else if (key.upArrow) setMessage((m) => Math.max(0, m - 1));
      else if (key.downArrow) setMessage((m) => Math.min(count - 1, m + 1));
      else if (input === 'p' || input === 'h' || input === 't') {
        setStatus(
          save(input, record, detail.call, renderRtpTable(detail.rtpStreams), {
            dir: options.saveDir ?? process.cwd(),
            width,
          }),
        );
      }
      return;
    }
    if (input === 'q') exit();
    else if (input === '/') setTyping(true);
    else if (input === 'o') setHideOptions((v) => !v);
    else if (key.escape) setFilter('');
    else if (key.upArrow) setSelected(Math.max(0, sel - 1));
    else if (key.downArrow) setSelected(Math.min(list.length - 1, sel + 1));
    else if (key.pageDown)
      setSelected(Math.min(list.length - 1, sel + (height - HEADER_LINES - 2)));
    else if (key.pageUp) setSelected(Math.max(0, sel - (height - HEADER_LINES - 2)));
    else if (key.return && list[sel]) {
      setOpen(list[sel].callId);
      setMessage(0);
      setStatus('');
    }
  });

  const title = `trapezoid analyze ${options.started.source}${ended ? ' (capture ended)' : ''}`;
  const findings = live.analysis.security
    ? ` · findings ${live.analysis.security.findings().length}`
    : '';
  const counts = `calls ${list.length} shown / ${[...live.calls()].length} kept, ${live.evicted} dropped · frames ${live.frames}${findings}`;
  if (detail && record) {
    return h(CallDetail, {
      call: detail.call,
      rtp: renderRtpTable(detail.rtpStreams),
      message: Math.min(message, detail.call.messages.length - 1),
      width,
      height,
      status,
    });
  }
  const room = Math.max(3, height - HEADER_LINES - 2);
  const first = Math.max(0, Math.min(sel - Math.floor(room / 2), list.length - room));
  const shown = list.slice(first, first + room);
  const filterLine = typing
    ? `Filter: ${filter}_`
    : filter
      ? `Filter: ${filter} (/ edit, Esc clear)`
      : 'Filter: (press / and type)';
  return h(
    Box,
    { flexDirection: 'column', width },
    h(Text, { bold: true }, cut(`${title} · ${counts}`, width)),
    h(
      Text,
      { color: typing ? 'yellow' : undefined },
      cut(`${filterLine}   OPTIONS ${hideOptions ? 'hidden' : 'shown'} (o)`, width),
    ),
    h(Text, { bold: true }, cut(header(width), width)),
    ...shown.map((r, i) =>
      h(
        Text,
        { key: r.callId, inverse: first + i === sel },
        cut(rowText(r, first + i + 1, width), width),
      ),
    ),
    shown.length === 0 ? h(Text, { dimColor: true }, 'No calls yet.') : null,
    h(
      Text,
      { dimColor: true },
      cut('↑↓ select · Enter open · / filter · o OPTIONS · q quit', width),
    ),
  );
}

interface DetailProps {
  call: LadderCall;
  rtp: string;
  message: number;
  width: number;
  height: number;
  status: string;
}

function CallDetail({
  call,
  rtp,
  message,
  width,
  height,
  status,
}: DetailProps): React.ReactElement {
  const hosts = call.hosts.map((x) => x.id);
  const rtpLines = rtp.trimEnd().split('\n');
  const m = call.messages[message];
  const raw = (m?.raw ?? '').split(/\r?\n/).filter((l, i, a) => l !== '' || i < a.length - 1);
  const ladderRoom = Math.max(4, height - 6 - rtpLines.length - MESSAGE_LINES);
  const first = Math.max(
    0,
    Math.min(message - Math.floor(ladderRoom / 2), call.messages.length - ladderRoom),
  );
  const shown = call.messages.slice(first, first + ladderRoom);
  const state = `${call.state}${call.finalStatus ? ` ${call.finalStatus}` : ''}`;
  return h(
    Box,
    { flexDirection: 'column', width },
    h(
      Text,
      { bold: true },
      cut(
        `${call.from} → ${call.to} · ${call.firstMethod} · ${state} · ${call.duration.toFixed(1)} s · DTMF ${call.dtmf || '-'}`,
        width,
      ),
    ),
    h(Text, { dimColor: true }, cut(`Call-ID ${call.callId}`, width)),
    h(Text, { bold: true }, cut(ladderHeader(hosts, width), width)),
    ...shown.map((msg, i) =>
      h(
        Text,
        { key: `m${first + i}`, inverse: first + i === message },
        cut(ladderRow(msg, hosts, width), width),
      ),
    ),
    h(
      Text,
      { bold: true },
      cut(
        `── message ${message + 1}/${call.messages.length} ${m ? `${m.from} → ${m.to} ${m.transport}` : ''}`,
        width,
      ),
    ),
    ...raw.slice(0, MESSAGE_LINES).map((l, i) => h(Text, { key: `r${i}` }, cut(l, width))),
    ...rtpLines.map((l, i) => h(Text, { key: `t${i}` }, cut(l, width))),
    h(
      Text,
      { dimColor: true },
      cut(
        `↑↓ message · p save pcap · h save HTML · t save text · Esc back${status ? ` · ${status}` : ''}`,
        width,
      ),
    ),
  );
}

/** Writes the call next to the user; returns the line the view shows. */
function save(
  key: string,
  record: CallRecord,
  call: LadderCall,
  rtp: string,
  { dir, width }: { dir: string; width: number },
): string {
  const base = `call-${record.callId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40)}`;
  try {
    if (key === 'p') {
      const file = join(dir, `${base}.pcap`);
      writeFileSync(file, callPcap(record));
      return `saved ${file}`;
    }
    if (key === 'h') {
      const file = join(dir, `${base}.html`);
      writeFileSync(file, renderHtmlReport(callReportModel(call, `SIP call ${call.callId}`)));
      return `saved ${file}`;
    }
    const file = join(dir, `${base}.txt`);
    writeFileSync(
      file,
      renderText(call, { color: false, width: Math.max(width, 100) }) + '\n' + rtp,
    );
    return `saved ${file}`;
  } catch (err) {
    return `cannot save: ${(err as Error).message}`;
  }
}

const COLS = { n: 4, start: 9, method: 9, state: 15, msgs: 5, codec: 12, dur: 7 };

function header(width: number): string {
  const party = partyWidth(width);
  return [
    pad('#', COLS.n, true),
    pad('Start', COLS.start),
    pad('Method', COLS.method),
    pad('From', party),
    pad('To', party),
    pad('State', COLS.state),
    pad('Msgs', COLS.msgs, true),
    pad('Codec', COLS.codec),
    pad('Dur', COLS.dur, true),
  ].join(' ');
}

function rowText(r: CallRow, n: number, width: number): string {
  const party = partyWidth(width);
  return [
    pad(String(n), COLS.n, true),
    pad(new Date(r.start * 1000).toISOString().slice(11, 19), COLS.start),
    pad(r.method, COLS.method),
    pad(r.from, party),
    pad(r.to, party),
    pad(r.state, COLS.state),
    pad(String(r.messages), COLS.msgs, true),
    pad(r.codec || '-', COLS.codec),
    pad(r.duration.toFixed(1), COLS.dur, true),
  ].join(' ');
}

function partyWidth(width: number): number {
  const fixed =
    COLS.n + COLS.start + COLS.method + COLS.state + COLS.msgs + COLS.codec + COLS.dur + 8;
  return Math.max(10, Math.floor((width - fixed) / 2));
}

function ladderHeader(hosts: string[], width: number): string {
  const col = columnWidth(hosts, width);
  return ' '.repeat(10) + hosts.map((x) => pad(x, col)).join('');
}

/** One message as an arrow between its hosts' columns: `  0.512  ──INVITE──>`. */
function ladderRow(m: LadderMessage, hosts: string[], width: number): string {
  const col = columnWidth(hosts, width);
  const a = hosts.indexOf(m.from);
  const b = hosts.indexOf(m.to);
  const left = Math.min(a, b);
  const right = Math.max(a, b);
  const span = Math.max(1, (right - left) * col);
  let label = `${m.label}${m.retransmission ? ' (re)' : ''}${m.malformed !== undefined ? ' !' : ''}`;
  if (label.length > span - 4) label = label.slice(0, Math.max(0, span - 4));
  const dashes = span - 2 - label.length;
  const before = Math.floor(dashes / 2);
  const body = '─'.repeat(before) + label + '─'.repeat(dashes - before);
  const arrow = a <= b ? `${body}─>` : `<─${body}`;
  return pad(m.time.toFixed(3), 9, true) + ' ' + ' '.repeat(left * col + 1) + arrow;
}

function columnWidth(hosts: string[], width: number): number {
  return Math.max(12, Math.floor((width - 12) / Math.max(1, hosts.length)));
}

function pad(text: string, width: number, right = false): string {
  const t = text.length > width ? text.slice(0, width - 1) + '…' : text;
  return right ? t.padStart(width) : t.padEnd(width);
}

function cut(text: string, width: number): string {
  return text.length > width ? text.slice(0, width) : text;
}
