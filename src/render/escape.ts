// Escaping for the markup renderers (SVG, HTML) and for terminal output.

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * Escapes text for XML/HTML element content and quoted attribute values. Characters that XML 1.0
 * forbids outright (C0 controls other than tab, LF, CR; lone surrogates; U+FFFE/FFFF) become U+FFFD
 * so the SVG stays well-formed whatever a capture carried.
 */
export function escapeXml(text: string): string {
  return text
    .replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c)
    .replace(
      /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
      '\ufffd',
    );
}

/**
 * Makes untrusted text safe to print on a terminal: control characters (C0, DEL, C1, which include
 * ESC and so any ANSI sequence) become U+FFFD, tabs and line breaks become a space.
 */
export function terminalSafe(text: string): string {
  return text.replace(/[\t\r\n]/g, ' ').replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd');
}

/**
 * Serializes a value as JSON that can sit inside an HTML <script> element: '<', '>' and '&' are
 * written as \u escapes (so no '</script>' or '<!--' can appear), and so are U+2028/U+2029, which
 * older JavaScript parsers treat as line breaks inside string literals.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => {
    return '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0');
  });
}
