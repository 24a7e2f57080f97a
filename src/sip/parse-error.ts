// SipParseError: the one error the SIP message layer throws for bad input (RFC 3261 §21.4.1:
// a server answers 400 Bad Request and names the problem in the reason phrase).

export class SipParseError extends Error {
  /** What is wrong, fit for a 400 reason phrase. */
  readonly reason: string;
  /** 1-based line of the offending spot in the input. */
  readonly line: number;
  /** 1-based column (in bytes) of the offending spot in the input. */
  readonly column: number;
  /** The header concerned, in its canonical spelling, when the problem is in one header. */
  readonly header?: string;

  constructor(reason: string, line = 1, column = 1, header?: string) {
    super(`${reason} (line ${line}, column ${column})`);
    this.name = 'SipParseError';
    this.reason = reason;
    this.line = line;
    this.column = column;
    if (header !== undefined) this.header = header;
  }
}

/** Thrown by the value parsers (URI, Via, name-addr, ...) with an index into their text. */
export function valueError(reason: string, index: number, header?: string): SipParseError {
  return new SipParseError(reason, 1, index + 1, header);
}

/** 1-based line and column of a byte offset in a buffer. */
export function positionOf(buf: Uint8Array, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, buf.length);
  for (let i = 0; i < end; i++) {
    if (buf[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
