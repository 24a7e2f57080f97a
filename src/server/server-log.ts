// The call server's log: pino, one JSON object per line for machines (stderr not a TTY) and a
// readable line per event for a person (stderr a TTY, through pino-pretty). Every line carries an
// `event` naming what happened, so an operator can filter on it:
//
//   listening            a SIP or HTTP listener started (transport, address, port)
//   registration         a binding added, refreshed or removed (aor, contact, source, expires)
//   call                 a call attempt and its routing decision (dial-plan rule, action, trunk, targets)
//   call.failover        a trunk peer failed and the next one is tried
//   call.end             the attempt's outcome: its SIP status and CDR cause
//   auth.failed          a digest check failed (user, source, why): never the response or password
//   ban                  a source banned (reason, seconds); user.attacked a user under attack
//   scanner              requests from a scanner dropped (rate-limited, see security-guard.ts)
//   trunk.registration   a trunk's registration with its provider changed state
//
// Secrets never reach a log line: no Authorization header, digest response, password, HA1, token
// or nonce is logged (test/server-log.test.ts greps the whole log for them).
import { createRequire } from 'node:module';
import { destination, pino, stdTimeFunctions, type Logger } from 'pino';
import type { LogLevel } from './config.ts';

export type { Logger } from 'pino';
export { LOG_LEVELS, type LogLevel } from './config.ts';

/** A logger that writes nothing (the default of components built without one). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export interface ServerLogOptions {
  level: LogLevel;
  /** Readable lines instead of JSON (default: when stderr is a TTY). */
  pretty?: boolean;
  /** Where lines go: a file descriptor (default 2, stderr). */
  fd?: number;
}

/**
 * The server's logger. JSON lines are written asynchronously (pino's SonicBoom), so logging does
 * not stall the SIP path; `flush()` on shutdown writes what is pending.
 */
export function createServerLogger(opts: ServerLogOptions): Logger {
  const fd = opts.fd ?? 2;
  const readable = opts.pretty ?? (fd === 2 && process.stderr.isTTY === true);
  const base = { level: opts.level, base: { pid: process.pid } };
  if (readable) {
    // Loaded only for a person's terminal: JSON logging (services, pipes) does without it.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino(
      base,
      pretty({
        destination: fd,
        sync: true,
        colorize: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
        // One line per event: the message already says what happened; the fields are for JSON.
        hideObject: true,
      }),
    );
  }
  // JSON for machines: ISO time and the level's name, so a reader needs no table of numbers.
  return pino(
    {
      ...base,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination({ fd, sync: false }),
  );
}

/** A peer-controlled string made safe for a readable log line: no control characters, bounded. */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, '?').slice(0, 120);
}
