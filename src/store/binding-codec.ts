// What every LocationStore engine agrees on: a binding's target as one string (the form the
// bindings table has always held, 'udp:192.0.2.1:5060', 'tcp:[2001:db8::1]:5061'), the order
// of an AOR's bindings, and the JSON a binding is kept as where the engine holds documents.
import type { Binding, BindingTarget, ContactUpdate, RegistrationUpdate } from './stores.ts';

/** A binding as stored: the Binding plus when it was last written (for the tie-break). */
export interface StoredBinding extends Binding {
  /** ms since the epoch of the REGISTER that last wrote it. */
  refreshedAt: number;
}

const PROTOCOLS: ReadonlySet<string> = new Set(['udp', 'tcp', 'tls', 'ws', 'wss']);

/** 'udp:192.0.2.1:5060', IPv6 in brackets. */
export function formatBindingTarget(t: BindingTarget): string {
  const host = t.address.includes(':') ? `[${t.address}]` : t.address;
  return `${t.protocol}:${host}:${t.port}`;
}

/** The inverse of formatBindingTarget; throws on a string it did not write. */
export function parseBindingTarget(s: string): BindingTarget {
  const m = /^([a-z]+):(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m || !PROTOCOLS.has(m[1]!)) throw new Error(`not a binding target: ${JSON.stringify(s)}`);
  return {
    protocol: m[1] as BindingTarget['protocol'],
    address: m[2] ?? m[3]!,
    port: Number(m[4]),
  };
}

/**
 * The order lookup() answers in: highest q first; then the most recently refreshed; then the
 * latest expiry; then the contact, so that every engine gives the same order.
 */
export function compareBindings(a: StoredBinding, b: StoredBinding): number {
  if (a.q !== b.q) return b.q - a.q;
  if (a.refreshedAt !== b.refreshedAt) return b.refreshedAt - a.refreshedAt;
  if (a.expiresAt !== b.expiresAt) return b.expiresAt - a.expiresAt;
  return a.contact < b.contact ? -1 : a.contact > b.contact ? 1 : 0;
}

/**
 * The order in which bindings make room under the cap: closest to expiry first, then the least
 * recently refreshed, then the contact.
 */
export function compareForEviction(a: StoredBinding, b: StoredBinding): number {
  if (a.expiresAt !== b.expiresAt) return a.expiresAt - b.expiresAt;
  if (a.refreshedAt !== b.refreshedAt) return a.refreshedAt - b.refreshedAt;
  return a.contact < b.contact ? -1 : a.contact > b.contact ? 1 : 0;
}

/** The public Binding of a stored one (without refreshedAt; optional fields only when set). */
export function toBinding(s: StoredBinding): Binding {
  const b: Binding = {
    aor: s.aor,
    contact: s.contact,
    target: s.target,
    flow: s.flow,
    q: s.q,
    expiresAt: s.expiresAt,
    callId: s.callId,
    cseq: s.cseq,
  };
  if (s.userAgent !== undefined) b.userAgent = s.userAgent;
  if (s.path !== undefined && s.path.length > 0) b.path = s.path;
  return b;
}

/** Sorted public bindings of stored ones. */
export function orderedBindings(stored: StoredBinding[]): Binding[] {
  return stored.sort(compareBindings).map(toBinding);
}

/** The binding a REGISTER's contact (with expires > 0) writes, as every engine stores it. */
export function storedBinding(u: RegistrationUpdate, c: ContactUpdate): StoredBinding {
  const b: StoredBinding = {
    aor: u.aor,
    contact: c.contact,
    target: u.target,
    flow: u.flow,
    q: c.q,
    expiresAt: u.now + c.expires * 1000,
    callId: u.callId,
    cseq: u.cseq,
    refreshedAt: u.now,
  };
  if (c.userAgent !== undefined) b.userAgent = c.userAgent;
  if (c.path !== undefined && c.path.length > 0) b.path = c.path;
  return b;
}
