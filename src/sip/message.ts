// The SIP message model (RFC 3261 §7): SipRequest and SipResponse over a shared SipMessage.
//
// A parsed message keeps its source bytes and a compact table of header offsets (see HeaderTable
// below); header text is decoded, and typed values parsed, only when someone asks. The first
// mutation makes a list of lines over that table: each entry is either the number of an original
// line (still read from, and written back as, its source bytes) or a Field holding new text
// (rendered as "Name: value"). The table itself never changes, so clones share it and the
// source bytes, and a clone costs one small array of line numbers.

import { latin1, methodName, ownString, utf8 } from './bytes.ts';
import { nameAddrFromBytes, viaFromBytes } from './checked-values.ts';
import { parseAuthValue, type DigestChallenge, type DigestCredentials } from './digest.ts';
import { countList, isToken, isWord, skipWs, splitList } from './grammar.ts';
import { H, canonicalName, headerKey, isListKind } from './header-names.ts';
import { parseMediaType } from './media-type.ts';
import { parseMultipart, type BodyPart } from './multipart.ts';
import {
  parseCheckedNameAddr,
  parseContact,
  parseNameAddr,
  type Contact,
  type NameAddr,
} from './name-addr.ts';
import { SipParseError, valueError } from './parse-error.ts';
import { parseSipDate } from './sip-date.ts';
import { parseUri, type SipUri } from './uri.ts';
import { formatVia, parseCheckedVia, parseVia, type Via } from './via.ts';

export interface HeaderLine {
  name: string;
  value: string;
}

export interface CSeq {
  seq: number;
  method: string;
}

/**
 * Compact header table written by the parser: 6 numbers per header line.
 *
 *   [kind|flags, lineStart, nameEnd, valueStart, valueEnd, lineEnd]
 *
 * offsets into the source buffer; lineEnd excludes the line terminator; valueEnd excludes trailing
 * whitespace. A folded value (continued on following lines) has the FOLDED flag.
 */
export const HT_STRIDE = 6;
export const HT_KIND = 0;
export const HT_LINE_START = 1;
export const HT_NAME_END = 2;
export const HT_VALUE_START = 3;
export const HT_VALUE_END = 4;
export const HT_LINE_END = 5;
export const HT_KIND_MASK = 0xff;
export const HT_FOLDED = 0x100;

/** A header line set after parsing (or of a built message). Never changed once made. */
interface Field {
  readonly kind: number;
  readonly key: string;
  readonly name: string;
  readonly value: string;
}

/** A line of a changed message: an original line's number in the header table, or new text. */
type Line = number | Field;

const UNSET = Symbol('unset');
const MAX_DELTA = 4294967295;
/** RFC 3261 §20.19/§10.2.1.1: a malformed or out-of-range expiry counts as 3600 seconds. */
const DEFAULT_EXPIRES = 3600;

function unfold(s: string): string {
  return s.replace(/\r?\n[ \t]+/g, ' ');
}

export abstract class SipMessage {
  version = 'SIP/2.0';
  /** @internal source bytes of a parsed message */
  _src: Buffer | null = null;
  /** @internal compact header table (see HT_*); never changed once parsed (clones share it) */
  _ht: number[] | null = null;
  /** @internal offset of the first header line in _src and of the blank line after the headers */
  _headStart = 0;
  _headEnd = 0;
  /**
   * @internal the header lines after the first mutation (or of a built message): original line
   * numbers and new Fields; null while a parsed message is unchanged (every line of _ht in order)
   */
  _lines: Line[] | null = null;
  /** @internal the header block is ASCII only (then _head may hold it as one string) */
  _ascii = false;
  /** @internal the header block [_headStart, _headEnd) as one Latin-1 string, decoded on first use */
  _head: string | null = null;
  /** @internal parsed typed values by header kind (the less used ones; allocated on first use) */
  _cache: unknown[] | null = null;
  /** @internal typed values of the core headers */
  _via: Via[] | undefined = undefined;
  _topVia: Via | undefined = undefined;
  _from: NameAddr | undefined = undefined;
  _to: NameAddr | undefined = undefined;
  _callId: string | undefined = undefined;
  _cseq: CSeq | undefined = undefined;
  /** @internal the header block still holds its source bytes unchanged */
  _pristine = false;
  private _body: Buffer | null = EMPTY;
  /** @internal body offsets in _src while _body is null (decoded on first use) */
  _bodyStart = 0;
  _bodyEnd = 0;
  /** @internal where the parsed message began and ended in _src (-1: built or cloned here) */
  _wireStart = -1;
  _wireEnd = 0;

  constructor(headers?: [string, string][], body?: Buffer | string) {
    this._lines = [];
    if (headers) for (const [n, v] of headers) this.append(n, v);
    if (body !== undefined) this.body = typeof body === 'string' ? Buffer.from(body) : body;
  }

  abstract startLine(): string;
  abstract clone(): this;

  /**
   * The bytes this message was parsed from, start line to the end of its body: what came on the
   * wire, whatever was changed since (a view of the source, not a copy). Undefined for a message
   * built or cloned here.
   */
  receivedBytes(): Buffer | undefined {
    const src = this._src;
    return this._wireStart < 0 || src === null
      ? undefined
      : src.subarray(this._wireStart, this._wireEnd);
  }

  /**
   * Whether the message as received (receivedBytes) had a line of this header, whatever was
   * removed since. Known header names only (compact forms too); false for a message not
   * received. What decides whether bytes kept from the wire need credentials redacted.
   */
  receivedHas(name: string): boolean {
    const ht = this._ht;
    if (this._wireStart < 0 || ht === null) return false;
    const { kind } = headerKey(name);
    if (kind === 0) throw new RangeError(`receivedHas takes a known header name, not '${name}'`);
    for (let o = 0; o < ht.length; o += HT_STRIDE)
      if ((ht[o]! & HT_KIND_MASK) === kind) return true;
    return false;
  }

  // ---- header access (works on the compact table and on fields alike) ----

  /** @internal number of header lines */
  _count(): number {
    const lines = this._lines;
    return lines !== null ? lines.length : (this._ht as number[]).length / HT_STRIDE;
  }

  /** @internal the original line (index into the header table) that line i is, or -1 for new text */
  _origin(i: number): number {
    const lines = this._lines;
    if (lines === null) return i;
    const l = lines[i]!;
    return typeof l === 'number' ? l : -1;
  }

  /** @internal kind of header line i */
  _kindAt(i: number): number {
    const lines = this._lines;
    if (lines === null) return (this._ht as number[])[i * HT_STRIDE]! & HT_KIND_MASK;
    const l = lines[i]!;
    return typeof l === 'number' ? (this._ht as number[])[l * HT_STRIDE]! & HT_KIND_MASK : l.kind;
  }

  /** @internal lookup key (lower case) of an unknown header line */
  _keyAt(i: number): string {
    const o = this._origin(i);
    if (o < 0) return (this._lines![i] as Field).key;
    return this._origName(o).toLowerCase();
  }

  /** @internal name of header line i as written */
  _nameAt(i: number): string {
    const o = this._origin(i);
    return o < 0 ? (this._lines![i] as Field).name : this._origName(o);
  }

  /** @internal value text of header line i (unfolded) */
  _valueAt(i: number): string {
    const o = this._origin(i);
    return o < 0 ? (this._lines![i] as Field).value : this._origValue(o);
  }

  /** @internal name of original line o as written */
  private _origName(o: number): string {
    const ht = this._ht as number[];
    const b = o * HT_STRIDE;
    if (this._ascii) {
      const hs = this._headStart;
      return this._headText().slice(ht[b + HT_LINE_START]! - hs, ht[b + HT_NAME_END]! - hs);
    }
    return latin1(this._src as Buffer, ht[b + HT_LINE_START]!, ht[b + HT_NAME_END]!);
  }

  /** @internal value text of original line o (unfolded) */
  private _origValue(o: number): string {
    const ht = this._ht as number[];
    const b = o * HT_STRIDE;
    let s: string;
    if (this._ascii) {
      // one Latin-1 decoding of the whole header block, then plain string slices
      const hs = this._headStart;
      s = this._headText().slice(ht[b + HT_VALUE_START]! - hs, ht[b + HT_VALUE_END]! - hs);
    } else s = utf8(this._src as Buffer, ht[b + HT_VALUE_START]!, ht[b + HT_VALUE_END]!);
    return ht[b]! & HT_FOLDED ? unfold(s) : s;
  }

  /** @internal the header block as one string (only for an ASCII-only block) */
  _headText(): string {
    return (this._head ??= latin1(this._src as Buffer, this._headStart, this._headEnd));
  }

  /** @internal byte offset of the value of line i in the source (for error positions), or -1 */
  _valueOffset(i: number): number {
    const o = this._ht === null ? -1 : this._origin(i);
    return o < 0 ? -1 : this._ht![o * HT_STRIDE + HT_VALUE_START]!;
  }

  private _matches(i: number, kind: number, key: string): boolean {
    const k = this._kindAt(i);
    return kind ? k === kind : k === 0 && this._keyAt(i) === key;
  }

  /** @internal indexes of the lines of a header */
  _indexes(kind: number, key: string): number[] {
    const out: number[] = [];
    const n = this._count();
    for (let i = 0; i < n; i++) if (this._matches(i, kind, key)) out.push(i);
    return out;
  }

  /** @internal first line of a header kind, or -1 */
  _first(kind: number): number {
    const n = this._count();
    if (this._lines === null) {
      const ht = this._ht as number[];
      for (let i = 0; i < n; i++) if ((ht[i * HT_STRIDE]! & HT_KIND_MASK) === kind) return i;
      return -1;
    }
    for (let i = 0; i < n; i++) if (this._kindAt(i) === kind) return i;
    return -1;
  }

  /** First value's text (for list headers, the first element of the list). */
  get(name: string): string | undefined {
    const { kind, key } = headerKey(name);
    const n = this._count();
    for (let i = 0; i < n; i++) {
      if (!this._matches(i, kind, key)) continue;
      const v = this._valueAt(i);
      return isListKind(kind) && v.indexOf(',') >= 0 ? splitList(v)[0] : v;
    }
    return undefined;
  }

  /** Every value in order: each line, and comma lists split for list headers. */
  getAll(name: string): string[] {
    const { kind, key } = headerKey(name);
    const list = isListKind(kind);
    const out: string[] = [];
    const n = this._count();
    for (let i = 0; i < n; i++) {
      if (!this._matches(i, kind, key)) continue;
      const v = this._valueAt(i);
      if (list && v.indexOf(',') >= 0) {
        for (const part of splitList(v)) out.push(part);
      } else out.push(v);
    }
    return out;
  }

  has(name: string): boolean {
    const { kind, key } = headerKey(name);
    const n = this._count();
    for (let i = 0; i < n; i++) if (this._matches(i, kind, key)) return true;
    return false;
  }

  /** Every header line in order as received (name as written, value unfolded). */
  headerLines(): HeaderLine[] {
    const out: HeaderLine[] = [];
    const n = this._count();
    for (let i = 0; i < n; i++) out.push({ name: this._nameAt(i), value: this._valueAt(i) });
    return out;
  }

  /** @internal the line list, made on the first mutation (original lines by number) */
  _editable(): Line[] {
    let lines = this._lines;
    if (lines === null) {
      const n = (this._ht as number[]).length / HT_STRIDE;
      lines = new Array<Line>(n);
      for (let i = 0; i < n; i++) lines[i] = i;
      this._lines = lines;
    }
    return lines;
  }

  private _touch(kind: number): Line[] {
    const lines = this._editable();
    this._pristine = false;
    if (kind) this._forget(kind);
    return lines;
  }

  /** @internal drops the cached typed value of a header kind */
  _forget(kind: number): void {
    switch (kind) {
      case H.via:
        this._via = undefined;
        this._topVia = undefined;
        break;
      case H.from:
        this._from = undefined;
        break;
      case H.to:
        this._to = undefined;
        break;
      case H.callId:
        this._callId = undefined;
        break;
      case H.cseq:
        this._cseq = undefined;
        break;
      default:
        if (this._cache !== null) this._cache[kind] = undefined;
    }
  }

  private _newField(name: string, value: string): Field {
    const { kind, key, token } = headerKey(name);
    if (!token) throw new SipParseError(`Invalid header name '${name}'`, 1, 1);
    if (value.indexOf('\n') >= 0 || value.indexOf('\r') >= 0)
      throw new SipParseError(`Invalid value for ${name}: line breaks are not allowed`, 1, 1, name);
    return {
      kind,
      key,
      name: name.length === 1 && kind ? canonicalName(kind) : name,
      value: value.trim(),
    };
  }

  /** Replaces every line of that header (appends when absent). */
  set(name: string, value: string): void {
    const nf = this._newField(name, value);
    const fields = this._touch(nf.kind);
    const idx = this._indexes(nf.kind, nf.key);
    if (idx.length === 0) {
      fields.push(nf);
      return;
    }
    fields[idx[0]!] = nf;
    for (let j = idx.length - 1; j >= 1; j--) fields.splice(idx[j]!, 1);
  }

  /** Adds a header line after the last one of that name (or at the end). */
  append(name: string, value: string): void {
    const nf = this._newField(name, value);
    const fields = this._touch(nf.kind);
    const idx = this._indexes(nf.kind, nf.key);
    if (idx.length === 0) fields.push(nf);
    else fields.splice(idx[idx.length - 1]! + 1, 0, nf);
  }

  /** Adds a header line before the first one of that name (or at the top). */
  prepend(name: string, value: string): void {
    const nf = this._newField(name, value);
    const fields = this._touch(nf.kind);
    const idx = this._indexes(nf.kind, nf.key);
    fields.splice(idx.length === 0 ? 0 : idx[0]!, 0, nf);
  }

  /**
   * Adds a Via on top whose parsed form is known (one of our own): written as formatVia writes
   * it, and kept as the message's topVia, so it is not parsed back from the text. The message
   * keeps `via`: do not change it afterwards.
   */
  prependVia(via: Via): void {
    this.prepend('Via', formatVia(via));
    this._topVia = via;
  }

  /** Removes every line of that header. */
  remove(name: string): void {
    const { kind, key } = headerKey(name);
    if (!this.has(name)) return;
    const fields = this._touch(kind);
    const idx = this._indexes(kind, key);
    for (let j = idx.length - 1; j >= 0; j--) fields.splice(idx[j]!, 1);
  }

  /** Removes the first value (out of a comma list if need be) and returns it. */
  removeFirst(name: string): string | undefined {
    const { kind, key } = headerKey(name);
    if (!this.has(name)) return undefined;
    const fields = this._touch(kind);
    const i = this._indexes(kind, key)[0]!;
    const value = this._valueAt(i);
    if (isListKind(kind) && value.indexOf(',') >= 0) {
      const parts = splitList(value);
      if (parts.length > 1) {
        const rest: Field = { kind, key, name: this._nameAt(i), value: parts.slice(1).join(', ') };
        fields[i] = rest;
        return parts[0];
      }
    }
    fields.splice(i, 1);
    return value;
  }

  // ---- body ----

  get body(): Buffer {
    return (this._body ??= (this._src as Buffer).subarray(this._bodyStart, this._bodyEnd));
  }

  set body(b: Buffer | string) {
    this._body = typeof b === 'string' ? Buffer.from(b) : b;
    this._pristine = false;
  }

  /** @internal set by the parser: the body is src[start, end) */
  _setParsedBody(start: number, end: number): void {
    this._body = null;
    this._bodyStart = start;
    this._bodyEnd = end;
  }

  // ---- typed getters (parsed on first use, cached until that header changes) ----

  /** @internal cached typed value of a header kind */
  _typed<T>(kind: number, compute: () => T): T {
    const cache = (this._cache ??= []);
    const c = cache[kind];
    if (c !== undefined) return (c === UNSET ? undefined : c) as T;
    const v = compute();
    cache[kind] = v === undefined ? UNSET : v;
    return v;
  }

  /** @internal values of every line of a kind, comma lists split for list kinds */
  _values(kind: number): string[] {
    const out: string[] = [];
    const n = this._count();
    const list = isListKind(kind);
    for (let i = 0; i < n; i++) {
      if (this._kindAt(i) !== kind) continue;
      const v = this._valueAt(i);
      if (list && v.indexOf(',') >= 0) for (const p of splitList(v)) out.push(p);
      else out.push(v);
    }
    return out;
  }

  private _firstValue(kind: number): string | undefined {
    const i = this._first(kind);
    return i < 0 ? undefined : this._valueAt(i);
  }

  private _required(kind: number): string {
    const v = this._firstValue(kind);
    if (v === undefined)
      throw new SipParseError(`Missing ${canonicalName(kind)} header`, 1, 1, canonicalName(kind));
    return v;
  }

  /** @internal whether line i still holds the parsed source's text (its bytes passed the parser's checks) */
  _checked(i: number): boolean {
    return this._ht !== null && this._origin(i) >= 0;
  }

  get via(): Via[] {
    const c = this._via;
    if (c !== undefined) return c;
    const v: Via[] = [];
    const n = this._count();
    for (let i = 0; i < n; i++) {
      if (this._kindAt(i) !== H.via) continue;
      const parse = this._checked(i) ? parseCheckedVia : parseVia;
      const text = this._valueAt(i);
      if (VIA_IS_LIST && text.indexOf(',') >= 0)
        for (const part of splitList(text)) v.push(parse(part));
      else v.push(parse(text));
    }
    this._via = v;
    return v;
  }

  /**
   * How many Via values the message has (`via.length`), counted without parsing them: a proxy
   * comparing a response's Vias with its request's reads no more than the top one.
   */
  get viaCount(): number {
    const c = this._via;
    if (c !== undefined) return c.length;
    let count = 0;
    const n = this._count();
    for (let i = 0; i < n; i++) {
      if (this._kindAt(i) !== H.via) continue;
      count += VIA_IS_LIST ? countList(this._valueAt(i)) : 1;
    }
    return count;
  }

  /** The first Via (parsed alone: the others are not read). Throws SipParseError when there is none. */
  get topVia(): Via {
    const all = this._via;
    if (all !== undefined && all.length > 0) return all[0]!;
    const c = this._topVia;
    if (c !== undefined) return c;
    const i = this._first(H.via);
    if (i < 0) throw new SipParseError('Missing Via header', 1, 1, 'Via');
    const fast = this._fromBytes(i, viaFromBytes);
    if (fast !== undefined) return (this._topVia = fast);
    const value = this._valueAt(i);
    const first = value.indexOf(',') >= 0 ? splitList(value)[0]! : value;
    const v = this._checked(i) ? parseCheckedVia(first) : parseVia(first);
    this._topVia = v;
    return v;
  }

  /**
   * The first Via, or undefined when there is none: `via[0]` without parsing the other Vias
   * (parsed alone, as topVia).
   */
  get firstVia(): Via | undefined {
    const all = this._via;
    if (all !== undefined) return all[0];
    if (this._topVia !== undefined) return this._topVia;
    return this._first(H.via) < 0 ? undefined : this.topVia;
  }

  /** Throws SipParseError when absent (see validateRequest). */
  get from(): NameAddr {
    const c = this._from;
    if (c !== undefined) return c;
    const i = this._first(H.from);
    const fast = i >= 0 ? this._fromBytes(i, nameAddrFromBytes) : undefined;
    if (fast !== undefined) return (this._from = fast);
    const text = this._required(H.from);
    return (this._from = this._checked(i) ? parseCheckedNameAddr(text) : parseNameAddr(text));
  }

  /**
   * @internal a typed value built straight from the checked bytes of line i (checked-values.ts),
   * or undefined when the message was changed, the value is folded or not ASCII, or the builder
   * declines its form.
   */
  _fromBytes<T>(
    i: number,
    build: (b: Buffer, start: number, end: number, head: string, hs: number) => T | undefined,
  ): T | undefined {
    const ht = this._ht;
    if (ht === null || !this._ascii) return undefined;
    const line = this._origin(i);
    if (line < 0) return undefined;
    const o = line * HT_STRIDE;
    if (ht[o]! & HT_FOLDED) return undefined;
    return build(
      this._src as Buffer,
      ht[o + HT_VALUE_START]!,
      ht[o + HT_VALUE_END]!,
      this._headText(),
      this._headStart,
    );
  }

  /** Throws SipParseError when absent (see validateRequest). */
  get to(): NameAddr {
    const c = this._to;
    if (c !== undefined) return c;
    const i = this._first(H.to);
    const fast = i >= 0 ? this._fromBytes(i, nameAddrFromBytes) : undefined;
    if (fast !== undefined) return (this._to = fast);
    const text = this._required(H.to);
    return (this._to = this._checked(i) ? parseCheckedNameAddr(text) : parseNameAddr(text));
  }

  /** Throws SipParseError when absent (see validateRequest). */
  get callId(): string {
    const c = this._callId;
    if (c !== undefined) return c;
    // a parsed message's Call-ID passed the byte check already
    const text = this._required(H.callId);
    const v = this._checked(this._first(H.callId)) ? text : parseCallId(text);
    // Kept for the whole call by the layers above (maps, logs): its own copy (bytes.ts).
    return (this._callId = ownString(v));
  }

  /** Throws SipParseError when absent (see validateRequest). */
  get cseq(): CSeq {
    const c = this._cseq;
    if (c !== undefined) return c;
    if (this._ht !== null) {
      // a parsed message's CSeq passed the byte check: read it from the bytes, no string work
      const i = this._first(H.cseq);
      const o = i >= 0 ? this._origin(i) : -1;
      if (o >= 0) return (this._cseq = this._cseqAt(o));
    }
    return (this._cseq = parseCSeq(this._required(H.cseq)));
  }

  /** @internal CSeq of original line i of a parsed message, from its checked bytes */
  _cseqAt(i: number): CSeq {
    const buf = this._src as Buffer;
    const ht = this._ht as number[];
    const o = i * HT_STRIDE;
    let p = ht[o + HT_VALUE_START]!;
    const end = ht[o + HT_VALUE_END]!;
    let seq = 0;
    let c = 0;
    while (p < end && (c = buf[p]!) >= 0x30 && c <= 0x39) {
      seq = seq * 10 + (c - 0x30);
      p++;
    }
    while (p < end && ((c = buf[p]!) === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a)) p++;
    return { seq, method: this._methodAt(buf, p, end) };
  }

  /** @internal a method name in buf[start, end): the request's own, a common one, or decoded */
  _methodAt(buf: Buffer, start: number, end: number): string {
    return methodName(buf, start, end);
  }

  get maxForwards(): number | undefined {
    return this._typed(H.maxForwards, () => {
      const v = this._firstValue(H.maxForwards);
      return v === undefined ? undefined : parseMaxForwards(v);
    });
  }

  get contact(): Contact[] {
    return this._typed(H.contact, () => {
      const out: Contact[] = [];
      const n = this._count();
      for (let i = 0; i < n; i++) {
        if (this._kindAt(i) !== H.contact) continue;
        const checked = this._checked(i);
        const text = this._valueAt(i);
        if (CONTACT_IS_LIST && text.indexOf(',') >= 0) {
          for (const part of splitList(text)) out.push(parseContact(part, checked));
        } else out.push(parseContact(text, checked));
      }
      return out;
    });
  }

  get route(): NameAddr[] {
    return this._typed(H.route, () => this._values(H.route).map(parseNameAddr));
  }

  get recordRoute(): NameAddr[] {
    return this._typed(H.recordRoute, () => this._values(H.recordRoute).map(parseNameAddr));
  }

  /** The Content-Length header's value, or the body length when there is none. */
  get contentLength(): number {
    const v = this._typed(H.contentLength, () => {
      const s = this._firstValue(H.contentLength);
      return s === undefined ? undefined : parseContentLength(s);
    });
    return v === undefined ? this.body.length : v;
  }

  /** Media type, lower case, without parameters. */
  get contentType(): string | undefined {
    return this._typed(H.contentType, () => {
      const s = this._firstValue(H.contentType);
      return s === undefined ? undefined : parseMediaType(s).type;
    });
  }

  /** Expires in seconds (an out-of-range value counts as 3600, RFC 3261 §20.19). */
  get expires(): number | undefined {
    return this._typed(H.expires, () => {
      const s = this._firstValue(H.expires);
      return s === undefined ? undefined : parseDeltaSeconds(s, 'Expires');
    });
  }

  get minExpires(): number | undefined {
    return this._typed(H.minExpires, () => {
      const s = this._firstValue(H.minExpires);
      return s === undefined ? undefined : parseDeltaSeconds(s, 'Min-Expires');
    });
  }

  get authorization(): DigestCredentials[] {
    return this._typed(H.authorization, () => this._auth(H.authorization));
  }

  get proxyAuthorization(): DigestCredentials[] {
    return this._typed(H.proxyAuthorization, () => this._auth(H.proxyAuthorization));
  }

  get wwwAuthenticate(): DigestChallenge[] {
    return this._typed(H.wwwAuthenticate, () => this._auth(H.wwwAuthenticate));
  }

  get proxyAuthenticate(): DigestChallenge[] {
    return this._typed(H.proxyAuthenticate, () => this._auth(H.proxyAuthenticate));
  }

  private _auth(kind: number): DigestChallenge[] {
    const out: DigestChallenge[] = [];
    for (const v of this._values(kind))
      for (const c of parseAuthValue(v, canonicalName(kind))) out.push(c);
    return out;
  }

  get allow(): string[] {
    return this._typed(H.allow, () => this._tokens(H.allow));
  }
  get supported(): string[] {
    return this._typed(H.supported, () => this._tokens(H.supported));
  }
  get require(): string[] {
    return this._typed(H.require, () => this._tokens(H.require));
  }
  get proxyRequire(): string[] {
    return this._typed(H.proxyRequire, () => this._tokens(H.proxyRequire));
  }
  get accept(): string[] {
    return this._typed(H.accept, () => this._tokens(H.accept));
  }

  private _tokens(kind: number): string[] {
    return this._values(kind).filter((v) => v !== '');
  }

  get userAgent(): string | undefined {
    return this._firstValue(H.userAgent);
  }

  get server(): string | undefined {
    return this._firstValue(H.server);
  }

  get date(): Date | undefined {
    return this._typed(H.date, () => {
      const s = this._firstValue(H.date);
      return s === undefined ? undefined : parseSipDate(s);
    });
  }

  /** Parts of a multipart body (undefined when the body is not multipart). */
  multipart(): BodyPart[] | undefined {
    const ct = this._firstValue(H.contentType);
    if (ct === undefined) return undefined;
    const mt = parseMediaType(ct);
    if (!mt.type.startsWith('multipart/') || !mt.params.boundary) return undefined;
    return parseMultipart(this.body, mt.params.boundary);
  }

  // ---- serialization ----

  /**
   * The message as bytes: untouched header lines keep their bytes; Content-Length matches the
   * body. One buffer is allocated: runs of untouched lines are copied from the source in one go.
   */
  toBuffer(): Buffer {
    const startLine = this.startLine();
    const body = this.body;
    const src = this._src;
    if (this._pristine && src !== null) {
      const hs = this._headStart;
      const he = this._headEnd;
      const sl = Buffer.byteLength(startLine);
      const out = Buffer.allocUnsafe(sl + 2 + (he - hs) + 2 + body.length);
      let p = out.write(startLine, 0, sl, 'utf8');
      out[p++] = CR;
      out[p++] = LF;
      p += src.copy(out, p, hs, he);
      out[p++] = CR;
      out[p++] = LF;
      body.copy(out, p);
      return out;
    }
    // Pieces in order: a string (rendered text), or two numbers: a run [start, end) of source
    // lines written as they came, followed by CRLF.
    const pieces: (string | number)[] = [];
    let size = body.length;
    let text = startLine + '\r\n';
    let runStart = -1;
    let runEnd = -1;
    let clDone = false;
    const n = this._count();
    const ht = this._ht;
    for (let i = 0; i < n; i++) {
      const kind = this._kindAt(i);
      const o = ht === null ? -1 : this._origin(i);
      let rawStart = -1;
      let rawEnd = -1;
      if (o >= 0) {
        const b = o * HT_STRIDE;
        rawStart = ht![b + HT_LINE_START]!;
        rawEnd = ht![b + HT_LINE_END]!;
        if (ht![b]! & HT_FOLDED && hasBareLf(src!, rawStart, rawEnd)) rawStart = -1;
      }
      if (kind === H.contentLength) {
        if (clDone) continue;
        clDone = true;
        // rendered with the body's length unless the line says just that
        if (rawStart < 0 || this._valueAt(i).trim() !== String(body.length)) rawStart = -2;
      }
      if (rawStart < 0) {
        if (runStart >= 0) {
          pieces.push(runStart, runEnd);
          size += runEnd - runStart + 2;
          runStart = -1;
        }
        text +=
          rawStart === -2
            ? `${this._nameAt(i)}: ${body.length}\r\n`
            : `${this._nameAt(i)}: ${this._valueAt(i)}\r\n`;
        continue;
      }
      if (text !== '') {
        pieces.push(text);
        size += Buffer.byteLength(text);
        text = '';
      }
      if (runStart >= 0) {
        // the next source line right after the run's CRLF joins it
        if (rawStart === runEnd + 2 && src![runEnd] === CR && src![runEnd + 1] === LF) {
          runEnd = rawEnd;
          continue;
        }
        pieces.push(runStart, runEnd);
        size += runEnd - runStart + 2;
      }
      runStart = rawStart;
      runEnd = rawEnd;
    }
    if (runStart >= 0) {
      pieces.push(runStart, runEnd);
      size += runEnd - runStart + 2;
    }
    if (!clDone) text += `Content-Length: ${body.length}\r\n`;
    text += '\r\n';
    pieces.push(text);
    size += Buffer.byteLength(text);
    const out = Buffer.allocUnsafe(size);
    let p = 0;
    for (let k = 0; k < pieces.length; k++) {
      const piece = pieces[k]!;
      if (typeof piece === 'string') {
        p += out.write(piece, p, 'utf8');
      } else {
        p += src!.copy(out, p, piece, pieces[++k] as number);
        out[p++] = CR;
        out[p++] = LF;
      }
    }
    body.copy(out, p);
    return out;
  }

  toString(): string {
    return this.toBuffer().toString('utf8');
  }

  /**
   * @internal copy headers and body into another message. The header table and the source bytes
   * are shared (neither is ever changed); the line list is copied (its Fields are never changed);
   * a body still the source's own bytes is shared too, any other is copied.
   */
  _copyInto<T extends SipMessage>(m: T): T {
    m.version = this.version;
    m._ht = this._ht;
    m._lines = this._lines === null ? null : this._lines.slice();
    const src = this._src;
    m._src = src;
    m._ascii = this._ascii;
    m._head = this._head;
    m._headStart = this._headStart;
    m._headEnd = this._headEnd;
    const body = this._body;
    if (
      src !== null &&
      (body === null ||
        (body.buffer === src.buffer &&
          body.byteOffset === src.byteOffset + this._bodyStart &&
          body.length === this._bodyEnd - this._bodyStart))
    ) {
      m._setParsedBody(this._bodyStart, this._bodyEnd);
      m._pristine = this._pristine;
    } else {
      m.body = Buffer.from(this.body);
      m._pristine = false;
    }
    return m;
  }
}

const EMPTY = Buffer.alloc(0);
const VIA_IS_LIST = isListKind(H.via);
const CONTACT_IS_LIST = isListKind(H.contact);
const CR = 0x0d;
const LF = 0x0a;

/** Whether buf[start, end) holds an LF not preceded by CR (a folded line written with bare LF). */
function hasBareLf(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++)
    if (buf[i] === LF && (i === start || buf[i - 1] !== CR)) return true;
  return false;
}

export class SipRequest extends SipMessage {
  method: string;
  private _uri: string | null;
  /** @internal Request-URI offsets in _src while _uri is null */
  _uriStart = 0;
  _uriEnd = 0;
  private _requestUri: SipUri | undefined;

  constructor(method: string, uri: string, headers?: [string, string][], body?: Buffer | string) {
    super(headers, body);
    this.method = method;
    this._uri = uri;
    this._requestUri = undefined;
  }

  /** The Request-URI as text. */
  get uri(): string {
    return (this._uri ??= latin1(this._src as Buffer, this._uriStart, this._uriEnd));
  }

  /** @internal set by the parser: the Request-URI is src[start, end), ASCII (checked) */
  _setParsedUri(start: number, end: number): void {
    this._uri = null;
    this._uriStart = start;
    this._uriEnd = end;
  }

  set uri(u: string) {
    this._uri = u;
    this._requestUri = undefined;
  }

  /** The Request-URI parsed (lazily; throws SipParseError when malformed). */
  get requestUri(): SipUri {
    return (this._requestUri ??= parseUri(this.uri));
  }

  /** @internal set by the parser once it has parsed the Request-URI */
  _setRequestUri(u: SipUri): void {
    this._requestUri = u;
  }

  /** @internal the CSeq method equal to the request's (as the parser checks) needs no new string */
  override _methodAt(buf: Buffer, start: number, end: number): string {
    const m = this.method;
    if (end - start === m.length) {
      let k = 0;
      while (k < m.length && buf[start + k] === m.charCodeAt(k)) k++;
      if (k === m.length) return m;
    }
    return methodName(buf, start, end);
  }

  startLine(): string {
    return `${this.method} ${this.uri} ${this.version}`;
  }

  clone(): this {
    const m = new SipRequest(this.method, this.uri);
    return this._copyInto(m) as this;
  }
}

export class SipResponse extends SipMessage {
  status: number;
  private _reason: string | null;
  /** @internal Reason-Phrase offsets in _src while _reason is null */
  _reasonStart = 0;
  _reasonEnd = 0;

  /** The Reason-Phrase (UTF-8 decoded on first use for a parsed response). */
  get reason(): string {
    return (this._reason ??= utf8(this._src as Buffer, this._reasonStart, this._reasonEnd));
  }

  set reason(r: string) {
    this._reason = r;
  }

  /** @internal set by the parser: the Reason-Phrase is src[start, end) */
  _setParsedReason(start: number, end: number): void {
    this._reason = null;
    this._reasonStart = start;
    this._reasonEnd = end;
  }

  constructor(
    status: number,
    reason?: string,
    headers?: [string, string][],
    body?: Buffer | string,
  ) {
    super(headers, body);
    this.status = status;
    this._reason = reason ?? '';
  }

  startLine(): string {
    return `${this.version} ${this.status} ${this.reason}`;
  }

  clone(): this {
    const m = new SipResponse(this.status, this.reason);
    return this._copyInto(m) as this;
  }
}

// ---- scalar header values ----

/** callid = word [ "@" word ] */
export function parseCallId(v: string): string {
  const t = v.trim();
  const at = t.indexOf('@');
  const ok = at < 0 ? isWord(t) : isWord(t.slice(0, at)) && isWord(t.slice(at + 1));
  if (!ok) throw valueError('Invalid Call-ID: not a word [ "@" word ]', 0, 'Call-ID');
  return t;
}

const MAX_CSEQ = 2147483647; // RFC 3261 §8.1.1.5: less than 2**31

/** CSeq = 1*DIGIT LWS Method */
export function parseCSeq(v: string): CSeq {
  let i = 0;
  i = skipWs(v, i);
  const ds = i;
  let seq = 0;
  while (i < v.length) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    seq = seq * 10 + (c - 0x30);
    i++;
  }
  if (i === ds) throw valueError('Invalid CSeq: sequence number expected', ds, 'CSeq');
  if (seq > MAX_CSEQ || i - ds > 10)
    throw valueError('Invalid CSeq: sequence number is not a 32-bit integer', ds, 'CSeq');
  const ws = i;
  i = skipWs(v, i);
  if (i === ws)
    throw valueError('Invalid CSeq: whitespace expected after the sequence number', i, 'CSeq');
  const method = v.slice(i).trimEnd();
  if (!isToken(method)) throw valueError('Invalid CSeq: method is not a token', i, 'CSeq');
  return { seq, method };
}

/** Max-Forwards = 1*DIGIT (0-255) */
export function parseMaxForwards(v: string): number {
  const t = v.trim();
  if (!/^[0-9]{1,10}$/.test(t))
    throw valueError('Invalid Max-Forwards: not a number', 0, 'Max-Forwards');
  const n = Number(t);
  if (n > 255)
    throw valueError(`Invalid Max-Forwards: ${n} is greater than 255`, 0, 'Max-Forwards');
  return n;
}

/** Content-Length = 1*DIGIT */
export function parseContentLength(v: string): number {
  const t = v.trim();
  if (!/^[0-9]{1,10}$/.test(t))
    throw valueError(`Invalid Content-Length: '${t}' is not a number`, 0, 'Content-Length');
  return Number(t);
}

/** delta-seconds = 1*DIGIT; an out-of-range value counts as 3600 (RFC 3261 §20.19). */
export function parseDeltaSeconds(v: string, header: string): number {
  const t = v.trim();
  if (!/^[0-9]+$/.test(t))
    throw valueError(`Invalid ${header}: '${t}' is not a number of seconds`, 0, header);
  const n = Number(t);
  return n > MAX_DELTA ? DEFAULT_EXPIRES : n;
}
