// The local spool of CDR writes the database could not take: an append-only file of JSON lines,
// each one fsync'd (fdatasync) before the write that made it is acknowledged, read back in order
// when the database returns, and emptied once every line was replayed.
//
//   {"op":"add","key":K,"node":N,"cdr":{...},"dialog":{...}}\n
//   {"op":"update","key":K,"cdr":{...}}\n
//   {"op":"dialog","dialog":{...}}\n
//
// Appends are group-committed: lines that arrive while one write+fdatasync is in flight go out
// together in the next one, so an outage under load costs one fsync per batch, not per CDR.
// A line is only acknowledged once on disk, so a process killed mid-write leaves at most one
// unacknowledged partial last line: it is cut off when the spool is opened again. Replay is
// at-least-once (a crash between applying lines and emptying the file replays them again): the
// writes themselves are idempotent by CDR key. One spool file belongs to one process; it is
// created readable by its owner only (it holds phone numbers).
import { closeSync, fdatasyncSync, fstatSync, openSync, readSync, ftruncateSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { CdrKey, CdrRecord, DialogRecord } from './stores.ts';

export type SpoolEntry =
  | { op: 'add'; key: CdrKey; node: string; cdr: CdrRecord; dialog?: DialogRecord }
  | { op: 'update'; key: CdrKey; cdr: CdrRecord }
  | { op: 'dialog'; dialog: DialogRecord };

/** A spooled line as read back: the entry (undefined when the line is not valid) and its text. */
export interface SpooledLine {
  entry: SpoolEntry | undefined;
  text: string;
  /** Offset just past this line's newline. */
  end: number;
}

const NEWLINE = 0x0a;
const READ_CHUNK = 64 * 1024;

/** Counts complete lines in the file and cuts a trailing partial line off (sync: at open only). */
function recover(path: string): { size: number; lines: number } {
  const fd = openSync(path, 'a+', 0o600);
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    let lines = 0;
    let lastNewlineEnd = 0;
    for (let pos = 0; pos < size;) {
      const n = readSync(fd, buf, 0, Math.min(READ_CHUNK, size - pos), pos);
      if (n <= 0) break;
      for (let i = 0; i < n; i++) {
        if (buf[i] === NEWLINE) {
          lines++;
          lastNewlineEnd = pos + i + 1;
        }
      }
      pos += n;
    }
    if (lastNewlineEnd < size) {
      ftruncateSync(fd, lastNewlineEnd);
      fdatasyncSync(fd);
    }
    return { size: lastNewlineEnd, lines };
  } finally {
    closeSync(fd);
  }
}

export class CdrSpool {
  /** Complete lines on disk not yet consumed. */
  private count: number;
  /** Bytes on disk (all complete lines). */
  private size: number;
  /** Offset of the first line not yet consumed. */
  private readOffset = 0;
  private pending: Array<{ line: string; resolve: () => void; reject: (e: Error) => void }> = [];
  private writing = 0;
  private flushScheduled = false;
  /** Serialises what changes the file (appends, truncation). */
  private lock: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    state: { size: number; lines: number },
  ) {
    this.size = state.size;
    this.count = state.lines;
  }

  /** Opens (creating) the spool file; lines left by an earlier process are kept for replay. */
  static async open(path: string): Promise<CdrSpool> {
    const state = recover(path);
    const file = await open(path, 'a+', 0o600);
    return new CdrSpool(path, file, state);
  }

  /** Lines waiting to be replayed (including those being written). */
  get length(): number {
    return this.count + this.writing + this.pending.length;
  }

  private exclusive<T>(step: () => Promise<T>): Promise<T> {
    const result = this.lock.then(step);
    this.lock = result.catch(() => undefined);
    return result;
  }

  /** Appends one entry; resolves once it is on disk (written and fdatasync'd). */
  append(entry: SpoolEntry): Promise<void> {
    const line = JSON.stringify(entry) + '\n';
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ line, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        void this.exclusive(() => this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      this.writing = batch.length;
      try {
        const buf = Buffer.from(batch.map((b) => b.line).join(''));
        // 'a+' opens with O_APPEND: the write lands at the end whatever the position.
        await this.file.write(buf);
        await this.file.datasync();
        this.size += buf.length;
        this.count += batch.length;
        this.writing = 0;
        for (const b of batch) b.resolve();
      } catch (err) {
        this.writing = 0;
        for (const b of batch) b.reject(err as Error);
      }
    }
    this.flushScheduled = false;
  }

  /** Up to `max` lines from the first one not yet consumed, in the order they were appended. */
  async peek(max: number): Promise<SpooledLine[]> {
    const out: SpooledLine[] = [];
    const limit = this.size;
    let offset = this.readOffset;
    let carry = Buffer.alloc(0);
    while (out.length < max && offset < limit) {
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, limit - offset));
      const { bytesRead } = await this.file.read(chunk, 0, chunk.length, offset);
      if (bytesRead <= 0)
        throw new Error(`${this.path}: shorter than written (changed by another process?)`);
      const buf = Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      const bufStart = offset - carry.length;
      offset += bytesRead;
      let from = 0;
      let nl: number;
      while (out.length < max && (nl = buf.indexOf(NEWLINE, from)) !== -1) {
        const text = buf.toString('utf8', from, nl);
        out.push({ text, entry: parse(text), end: bufStart + nl + 1 });
        from = nl + 1;
      }
      carry = buf.subarray(from);
    }
    return out;
  }

  /** Marks a line from peek (and every line before it) as replayed. */
  consume(line: SpooledLine): void {
    if (line.end <= this.readOffset) return;
    this.readOffset = line.end;
    this.count--;
  }

  /**
   * Empties the file when every line was consumed and nothing is being appended; resolves
   * whether it did (false: new lines arrived, replay them first).
   */
  truncateIfDrained(): Promise<boolean> {
    return this.exclusive(async () => {
      if (this.pending.length > 0 || this.readOffset < this.size) return false;
      await this.file.truncate(0);
      await this.file.datasync();
      this.readOffset = 0;
      this.size = 0;
      this.count = 0;
      return true;
    });
  }

  async close(): Promise<void> {
    await this.exclusive(() => this.file.close());
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** A line as an entry, or undefined when it is not one this code wrote. */
function parse(text: string): SpoolEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(v)) return undefined;
  const cdrOk = isObject(v.cdr) && typeof v.cdr.callId === 'string';
  switch (v.op) {
    case 'add':
      return typeof v.key === 'string' && typeof v.node === 'string' && cdrOk
        ? (v as SpoolEntry)
        : undefined;
    case 'update':
      return typeof v.key === 'string' && cdrOk ? (v as SpoolEntry) : undefined;
    case 'dialog':
      return isObject(v.dialog) && typeof v.dialog.callId === 'string'
        ? (v as SpoolEntry)
        : undefined;
    default:
      return undefined;
  }
}
