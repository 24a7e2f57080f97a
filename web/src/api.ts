// The console's side of the HTTP API: the token (kept for this tab only), requests that carry it,
// and the event stream read with fetch (EventSource cannot send an Authorization header).
import type { ConsoleEvent } from '../../src/server/console-model.ts';

const TOKEN_KEY = 'trapezoid.token';

export function token(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function setToken(value: string): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const t = token();
  if (t) headers.set('authorization', `Bearer ${t}`);
  const res = await fetch(path, { ...init, headers, cache: 'no-store' });
  if (!res.ok) throw new HttpError(res.status, (await res.text()).trim());
  return res;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await request(path)).json()) as T;
}

/** Saves a response body as a file (a download that carried the token). */
export async function download(path: string, fallbackName: string): Promise<void> {
  const res = await request(path);
  const disposition = res.headers.get('content-disposition') ?? '';
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export interface FeedHandlers {
  event(e: ConsoleEvent): void;
  status(text: string, ok: boolean): void;
  /** The server refused (401: it wants the token; 404: no such call). The stream is not retried. */
  refused(status: number): void;
}

/**
 * Reads an event stream (/api/events, /api/calls/{id}/events) until `signal` aborts,
 * reconnecting after a drop (1 s, then up to 10 s). Each `data:` line is one ConsoleEvent.
 */
export async function follow(path: string, h: FeedHandlers, signal: AbortSignal): Promise<void> {
  let wait = 1000;
  while (!signal.aborted) {
    try {
      const res = await request(path, { signal });
      h.status('live', true);
      wait = 1000;
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          for (const line of block.split('\n')) {
            if (line.startsWith('data: ')) h.event(JSON.parse(line.slice(6)) as ConsoleEvent);
          }
        }
      }
      h.status('reconnecting…', false);
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof HttpError && (err.status === 401 || err.status === 404)) {
        h.refused(err.status);
        return;
      }
      h.status(`disconnected (${(err as Error).message}); retrying…`, false);
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(10_000, wait * 2);
  }
}
