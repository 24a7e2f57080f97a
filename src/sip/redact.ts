// Credentials out of what the server records or shows (its call log, HTTP API, logs, captures):
// the digest `response` of an Authorization or Proxy-Authorization header, with the nonce, cnonce
// and nc beside it, is enough to guess a weak password offline. The user name, realm and
// algorithm stay: they are what a person troubleshooting needs to see.

/** Header names (long forms: these two have no compact form) whose values carry credentials. */
const CREDENTIAL_HEADERS = /^(authorization|proxy-authorization)[ \t]*:/i;
/** Digest parameters that must not be shown. */
const SECRET_PARAMS = /\b(response|cnonce)[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^,\s]+)/gi;
const REDACTED = '"<redacted>"';

/** One header value with its secrets replaced; a scheme other than Digest is hidden whole. */
export function redactCredentialValue(value: string): string {
  if (!/^[ \t]*digest\b/i.test(value)) return value.replace(/^([ \t]*\S+).*$/, `$1 <redacted>`);
  return redactParams(value);
}

function redactParams(text: string): string {
  return text.replace(SECRET_PARAMS, (_m, name: string) => `${name}=${REDACTED}`);
}

/**
 * A whole SIP message as text with the credentials in its Authorization and
 * Proxy-Authorization headers redacted (header folding is handled: a continuation line of such a
 * header is redacted with it). The rest of the message is unchanged.
 */
export function redactCredentials(text: string): string {
  if (!/authorization/i.test(text)) return text;
  const end = text.search(/\r?\n\r?\n/);
  const head = end < 0 ? text : text.slice(0, end);
  const rest = end < 0 ? '' : text.slice(end);
  const lines = head.split(/(\r?\n)/);
  let inCredentials = false;
  for (let i = 0; i < lines.length; i += 2) {
    const line = lines[i]!;
    if (/^[ \t]/.test(line) && i > 0) {
      if (inCredentials) lines[i] = redactParams(line);
      continue;
    }
    const m = CREDENTIAL_HEADERS.exec(line);
    inCredentials = m !== null;
    if (m)
      lines[i] = `${line.slice(0, m[0].length)}${redactCredentialValue(line.slice(m[0].length))}`;
  }
  return lines.join('') + rest;
}
