// The live console's feeds as server-sent events (one JSON ConsoleEvent per `data:` line,
// console-model.ts):
//   GET /api/events             the calls as they begin, are answered and end (summaries, gathered
//                               every FLUSH_MS into one event), and once a second what changed of
//                               the registrations, bans, trunks and relay sessions, and a metrics
//                               sample for the charts;
//   GET /api/calls/{id}/events  one call: its detail with the messages so far, then each message
//                               as the call log records it (the open ladder grows from this).
// Nothing polls per call. A message costs one map lookup when nobody watches its call, and a
// change of a call one map insert while a console is open (nothing when none is).
import type { ServerResponse } from 'node:http';
import {
  summarize,
  type Ban,
  type BindingRecord,
  type CallDetail,
  type CallSummary,
  type ConsoleEvent,
  type LoggedCall,
  type LoggedMessage,
  type MediaSession,
  type MetricsSample,
  type TrunkState,
} from './console-model.ts';

/** Where the feed reads the server's state. */
export interface FeedSources {
  /** Calls in progress, then recent ones, newest first. */
  calls(): LoggedCall[];
  hasCapture(callId: string): boolean;
  bindings(): BindingRecord[];
  bans(): Ban[];
  trunks(): TrunkState[];
  media(): MediaSession[];
  metrics(): MetricsSample;
}

/** A client that reads slower than this many buffered bytes is dropped (it can reconnect). */
const MAX_BUFFERED = 4 * 1024 * 1024;
/** A comment line this often keeps proxies and the browser from timing the stream out. */
const HEARTBEAT_MS = 15_000;
/** Calls listed in the hello event. */
const HELLO_CALLS = 200;
/** Changes of calls are gathered this long, then sent as one event (at 500 calls/s: ~100). */
const FLUSH_MS = 200;

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

export class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  /** Streams of one call each (GET /api/calls/{id}/events), by Call-ID. */
  private readonly watchers = new Map<string, Set<ServerResponse>>();
  private readonly dirty = new Map<string, LoggedCall>();
  private flushScheduled = false;
  private timer?: NodeJS.Timeout;
  private lastHeartbeat = 0;
  private readonly last = new Map<string, string>();

  constructor(
    private readonly sources: FeedSources,
    private readonly tickMs = 1000,
  ) {}

  get clientCount(): number {
    return this.clients.size;
  }

  /** Takes over a response as an event stream: headers, the hello event, then live events. */
  subscribe(res: ServerResponse, canAct: boolean): void {
    res.writeHead(200, SSE_HEADERS);
    res.socket?.setNoDelay(true);
    const calls = this.sources
      .calls()
      .slice(0, HELLO_CALLS)
      .map((c) => summarize(c, this.sources.hasCapture(c.callId)));
    this.write(res, { type: 'hello', canAct, calls });
    this.clients.add(res);
    res.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stopTicking();
    });
    // The slow state at once (not a second later), then every tick when it changed.
    this.sendState([res], true);
    this.startTicking();
  }

  /**
   * Takes over a response as the event stream of one call: its detail (messages so far), then
   * each new message. Ends when the client goes.
   */
  subscribeCall(res: ServerResponse, call: LoggedCall): void {
    res.writeHead(200, SSE_HEADERS);
    res.socket?.setNoDelay(true);
    const detail: CallDetail = {
      ...summarize(call, this.sources.hasCapture(call.callId)),
      messages: call.messages,
    };
    this.write(res, { type: 'detail', call: detail });
    let set = this.watchers.get(call.callId);
    if (!set) this.watchers.set(call.callId, (set = new Set()));
    const watching = set;
    watching.add(res);
    res.on('close', () => {
      watching.delete(res);
      if (watching.size === 0 && this.watchers.get(call.callId) === watching)
        this.watchers.delete(call.callId);
    });
  }

  /** The call log recorded a message of a call, the `index`th (hook: call-log.ts). */
  message(call: LoggedCall, message: LoggedMessage, index = call.messages.length - 1): void {
    const watching = this.watchers.get(call.callId);
    if (watching) {
      const text = JSON.stringify({ type: 'message', callId: call.callId, index, message });
      for (const res of watching) this.writeText(res, text, watching);
    }
    this.changed(call);
  }

  /** A call began, was answered or ended, or has a new message (hook: call-log.ts). */
  changed(call: LoggedCall): void {
    if (this.clients.size === 0) return;
    this.dirty.set(call.callId, call);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  private flush(): void {
    this.flushScheduled = false;
    const calls: CallSummary[] = [];
    if (this.clients.size > 0)
      for (const c of this.dirty.values())
        calls.push(summarize(c, this.sources.hasCapture(c.callId)));
    this.dirty.clear();
    if (calls.length > 0) this.broadcast({ type: 'calls', calls });
  }

  private startTicking(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  private stopTicking(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.last.clear();
  }

  private tick(): void {
    const clients = [...this.clients];
    this.sendState(clients, false);
    const now = Date.now();
    if (now - this.lastHeartbeat >= HEARTBEAT_MS) {
      this.lastHeartbeat = now;
      for (const c of clients) c.write(': keep-alive\n\n');
    }
  }

  /** Registrations, bans, trunks and relay sessions when they changed (or all: `force`), and a metrics sample. */
  private sendState(to: ServerResponse[], force: boolean): void {
    const state: ConsoleEvent[] = [
      { type: 'registrations', bindings: this.sources.bindings() },
      { type: 'bans', bans: this.sources.bans() },
      { type: 'trunks', trunks: this.sources.trunks() },
      { type: 'media', sessions: this.sources.media() },
    ];
    for (const e of state) {
      const text = JSON.stringify(e);
      const changed = this.last.get(e.type) !== text;
      this.last.set(e.type, text);
      if (changed || force) for (const c of to) this.writeText(c, text);
    }
    const metrics = JSON.stringify({ type: 'metrics', sample: this.sources.metrics() });
    for (const c of to) this.writeText(c, metrics);
  }

  private broadcast(e: ConsoleEvent): void {
    const text = JSON.stringify(e);
    for (const c of this.clients) this.writeText(c, text);
  }

  private write(res: ServerResponse, e: ConsoleEvent): void {
    this.writeText(res, JSON.stringify(e));
  }

  private writeText(res: ServerResponse, json: string, from = this.clients): void {
    if (res.writableLength > MAX_BUFFERED) {
      from.delete(res);
      res.destroy();
      return;
    }
    // JSON.stringify escapes line breaks inside strings, so one event is one data line.
    res.write(`data: ${json}\n\n`);
  }

  /** Ends every stream (server shutting down). */
  close(): void {
    this.stopTicking();
    for (const c of this.clients) c.end();
    this.clients.clear();
    for (const set of this.watchers.values()) for (const c of set) c.end();
    this.watchers.clear();
  }
}
