// multipart bodies (RFC 2046 §5.1, RFC 5621 for SIP): parts separated by "--boundary" lines.
//
//   body  = [preamble CRLF] "--" boundary CRLF part *(CRLF "--" boundary CRLF part)
//           CRLF "--" boundary "--" [CRLF epilogue]
//   part  = headers CRLF body

export interface BodyPart {
  headers: { name: string; value: string }[];
  body: Buffer;
}

/** Splits a multipart body. Returns undefined when the boundary never occurs. */
export function parseMultipart(body: Buffer, boundary: string): BodyPart[] | undefined {
  const delim = Buffer.from('--' + boundary, 'latin1');
  let pos = body.indexOf(delim);
  // The first delimiter must be at the start or after a line end.
  while (pos > 0 && body[pos - 1] !== 0x0a) pos = body.indexOf(delim, pos + 1);
  if (pos < 0) return undefined;
  const parts: BodyPart[] = [];
  for (;;) {
    let after = pos + delim.length;
    if (body[after] === 0x2d && body[after + 1] === 0x2d) break; // closing delimiter
    // skip transport padding and the line end after the delimiter
    while (body[after] === 0x20 || body[after] === 0x09) after++;
    if (body[after] === 0x0d) after++;
    if (body[after] === 0x0a) after++;
    let next = body.indexOf(delim, after);
    while (next > 0 && body[next - 1] !== 0x0a) next = body.indexOf(delim, next + 1);
    const end = next < 0 ? body.length : next;
    // the line end before the next delimiter belongs to the delimiter
    let partEnd = end;
    if (next >= 0) {
      if (body[partEnd - 1] === 0x0a) partEnd--;
      if (body[partEnd - 1] === 0x0d) partEnd--;
    }
    parts.push(parsePart(body.subarray(after, Math.max(after, partEnd))));
    if (next < 0) break;
    pos = next;
  }
  return parts;
}

function parsePart(part: Buffer): BodyPart {
  const headers: { name: string; value: string }[] = [];
  let i = 0;
  for (;;) {
    const lf = part.indexOf(0x0a, i);
    const lineEnd = lf < 0 ? part.length : lf;
    const line = part.toString(
      'utf8',
      i,
      lineEnd > i && part[lineEnd - 1] === 0x0d ? lineEnd - 1 : lineEnd,
    );
    const next = lf < 0 ? part.length : lf + 1;
    if (line === '') {
      i = next;
      break;
    }
    if ((line[0] === ' ' || line[0] === '\t') && headers.length > 0) {
      headers[headers.length - 1]!.value += ' ' + line.trim();
    } else {
      const colon = line.indexOf(':');
      if (colon > 0)
        headers.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
      else {
        // no header block: the whole part is body
        return { headers: [], body: part };
      }
    }
    i = next;
    if (i >= part.length) break;
  }
  return { headers, body: part.subarray(i) };
}
