// A fixed-grid line of styled characters for the terminal renderers: draw by column, then print
// with or without ANSI colours. Widths count code points (one terminal cell each).
import pc from 'picocolors';

export type TextStyle =
  'plain' | 'dim' | 'bold' | 'request' | '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | '6xx' | 'rtp';

export class TextLine {
  private readonly chars: string[] = [];
  private readonly styles: TextStyle[] = [];

  get length(): number {
    return this.chars.length;
  }

  /** Writes text starting at a column, padding with spaces as needed. */
  put(column: number, text: string, style: TextStyle = 'plain'): void {
    let at = Math.max(0, column);
    for (const ch of text) {
      while (this.chars.length < at) {
        this.chars.push(' ');
        this.styles.push('plain');
      }
      this.chars[at] = ch;
      this.styles[at] = style;
      at++;
    }
  }

  charAt(column: number): string {
    return this.chars[column] ?? ' ';
  }

  toString(color: boolean): string {
    const paint = stylePainter(color);
    let out = '';
    let run = '';
    let runStyle: TextStyle = 'plain';
    for (let i = 0; i < this.chars.length; i++) {
      const style = this.styles[i]!;
      if (style !== runStyle) {
        out += paint(runStyle, run);
        run = '';
        runStyle = style;
      }
      run += this.chars[i];
    }
    out += paint(runStyle, run);
    return out.trimEnd();
  }
}

/** Truncates to at most `width` code points, ending with '…' when something was cut. */
export function fit(text: string, width: number): string {
  const points = Array.from(text);
  if (points.length <= width) return text;
  if (width <= 0) return '';
  return points.slice(0, width - 1).join('') + '…';
}

/** Truncates to at most `width` code points keeping the end, starting with '…' when cut. */
export function fitEnd(text: string, width: number): string {
  const points = Array.from(text);
  if (points.length <= width) return text;
  if (width <= 0) return '';
  return '…' + points.slice(points.length - width + 1).join('');
}

export function textWidth(text: string): number {
  return Array.from(text).length;
}

export function stylePainter(color: boolean): (style: TextStyle, text: string) => string {
  const c = pc.createColors(color);
  const by: Record<TextStyle, (s: string) => string> = {
    plain: (s) => s,
    dim: c.gray,
    bold: c.bold,
    request: c.cyan,
    '1xx': c.yellow,
    '2xx': c.green,
    '3xx': c.blue,
    '4xx': c.red,
    '5xx': c.red,
    '6xx': c.red,
    rtp: c.magenta,
  };
  return (style, text) => (color && text !== '' ? by[style](text) : text);
}
