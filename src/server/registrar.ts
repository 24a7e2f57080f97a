// The registrar (RFC 3261 §10.3): binds an address of record to the contacts a REGISTER names,
// refreshes and removes those bindings, and answers with the full current set. It runs after
// authentication: the caller has already checked that the request's sender may register this AOR.
// Behind NAT the binding keeps the address the REGISTER really came from (the transport's source,
// which equals Via received/rport), and calls to that contact go there.
import {
  createResponse,
  formatHostPort,
  formatSipDate,
  formatUri,
  type Contact,
  type SipRequest,
  type SipResponse,
  type SipUri,
} from '../sip/index.ts';
import type { BindingRecord, Store } from '../store/store.ts';

export interface RegistrarPolicy {
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  /**
   * The most bindings one AOR may hold (Kamailio's max_contacts). A REGISTER naming more is
   * refused with 403; one that would go over it drops the bindings closest to expiry to make
   * room (a phone that moved keeps working), so the 200 listing them stays small.
   */
  maxBindings?: number;
}

/** The default cap on bindings per AOR. */
export const DEFAULT_MAX_BINDINGS = 10;
/**
 * The longest Contact URI bound, in characters: with the cap on bindings it keeps a REGISTER's
 * 200 (every binding listed) well inside one UDP datagram.
 */
export const MAX_CONTACT_URI_LENGTH = 512;

/** Where a REGISTER came from, as the transport saw it. */
export interface RequestSource {
  protocol: string;
  address: string;
  port: number;
  connectionId?: string;
}

/** The canonical AOR of a URI: scheme, user and host, lower-case host, no port or params. */
export function addressOfRecord(uri: SipUri): string {
  const scheme = uri.scheme === 'sips' ? 'sips' : 'sip';
  return `${scheme}:${uri.user ? `${uri.user}@` : ''}${uri.host.toLowerCase()}`;
}

export function formatTarget(source: RequestSource): string {
  return `${source.protocol}:${formatHostPort(source.address, source.port)}`;
}

/** A binding the registrar added, refreshed or removed (the server logs each). */
export type BindingChange =
  | {
      action: 'added' | 'refreshed';
      aor: string;
      contact: string;
      /** Where the REGISTER came from (transport:address:port). */
      source: string;
      expires: number;
      userAgent?: string;
    }
  | {
      action: 'removed';
      aor: string;
      contact: string;
      source: string;
      /**
       * Expires 0 (or Contact: *) from the phone, dropped to stay within maxBindings, or
       * expired (found by the server's periodic purge).
       */
      reason: 'unregistered' | 'over-cap' | 'expired';
    };

export class Registrar {
  constructor(
    private readonly store: Store,
    private readonly policy: RegistrarPolicy,
    private readonly now: () => number = Date.now,
    private readonly onChange: (change: BindingChange) => void = () => {},
  ) {}

  /**
   * Processes a REGISTER whose To AOR is `aor` (already known to be a local, authenticated user)
   * and returns the response to send: 200 with the current bindings, 400, 423 or 500.
   */
  register(req: SipRequest, aor: string, source: RequestSource): SipResponse {
    let contacts: Contact[];
    let headerExpires: number | undefined;
    try {
      contacts = req.contact;
      headerExpires = req.expires;
    } catch (err) {
      return createResponse(req, 400, `Bad Request: ${(err as Error).message}`.slice(0, 120));
    }
    const now = this.now();
    const callId = req.callId;
    const cseq = req.cseq.seq;

    // §10.3 step 6: "Contact: *" removes every binding, only with Expires: 0 and alone.
    if (contacts.some((c) => c.star)) {
      if (contacts.length !== 1 || headerExpires !== 0) {
        return createResponse(
          req,
          400,
          'Bad Request: Contact * needs Expires: 0 and no other contact',
        );
      }
      for (const b of this.store.bindingsFor(aor, now)) {
        if (b.callId === callId && b.cseq >= cseq) continue; // an older request replayed
        this.store.removeBinding(aor, b.contact);
        this.onChange({
          action: 'removed',
          aor,
          contact: b.contact,
          source: formatTarget(source),
          reason: 'unregistered',
        });
      }
      return this.ok(req, aor, now);
    }

    // Expiry per contact; a too-brief one is refused as a whole with 423 (§10.3 step 7).
    const planned: Array<{ contact: Contact; uri: string; expires: number }> = [];
    for (const contact of contacts) {
      let expires = contact.expires ?? headerExpires ?? this.policy.defaultExpires;
      if (expires !== 0 && expires < this.policy.minExpires) {
        const res = createResponse(req, 423, 'Interval Too Brief');
        res.set('Min-Expires', String(this.policy.minExpires));
        return res;
      }
      if (expires > this.policy.maxExpires) expires = this.policy.maxExpires;
      const uri = formatUri(contact.uri);
      if (uri.length > MAX_CONTACT_URI_LENGTH) {
        return createResponse(
          req,
          400,
          `Bad Request: Contact URI longer than ${MAX_CONTACT_URI_LENGTH} characters`,
        );
      }
      planned.push({ contact, uri, expires });
    }
    const maxBindings = this.policy.maxBindings ?? DEFAULT_MAX_BINDINGS;
    const adding = new Set(planned.filter((p) => p.expires > 0).map((p) => p.uri));
    if (adding.size > maxBindings) {
      return createResponse(
        req,
        403,
        `Forbidden (at most ${maxBindings} contacts per address-of-record)`,
      );
    }

    const existing = new Map(this.store.bindingsFor(aor, now).map((b) => [b.contact, b]));
    for (const p of planned) {
      const old = existing.get(p.uri);
      if (old && old.callId === callId && old.cseq >= cseq) {
        return createResponse(
          req,
          500,
          'Server Internal Error: REGISTER out of order (CSeq not higher)',
        );
      }
    }
    for (const p of planned) {
      if (p.expires === 0) {
        this.store.removeBinding(aor, p.uri);
        if (existing.has(p.uri))
          this.onChange({
            action: 'removed',
            aor,
            contact: p.uri,
            source: formatTarget(source),
            reason: 'unregistered',
          });
        continue;
      }
      const binding: BindingRecord = {
        aor,
        contact: p.uri,
        target: formatTarget(source),
        q: p.contact.q ?? 1,
        expiresAt: now + p.expires * 1000,
        callId,
        cseq,
        userAgent: req.userAgent,
        connectionId: source.connectionId,
      };
      this.store.putBinding(binding);
      this.onChange({
        action: existing.has(p.uri) ? 'refreshed' : 'added',
        aor,
        contact: p.uri,
        source: binding.target,
        expires: p.expires,
        ...(req.userAgent !== undefined ? { userAgent: req.userAgent.slice(0, 80) } : {}),
      });
    }
    // Over the cap: the bindings closest to expiry (the least recently refreshed) make room.
    const bound = this.store.bindingsFor(aor, now);
    if (bound.length <= maxBindings) return this.ok(req, aor, now, bound);
    const dropped = new Set(
      bound
        .filter((b) => !adding.has(b.contact))
        .sort((a, b) => a.expiresAt - b.expiresAt)
        .slice(0, bound.length - maxBindings)
        .map((b) => b.contact),
    );
    for (const contact of dropped) {
      this.store.removeBinding(aor, contact);
      this.onChange({
        action: 'removed',
        aor,
        contact,
        source: formatTarget(source),
        reason: 'over-cap',
      });
    }
    return this.ok(
      req,
      aor,
      now,
      bound.filter((b) => !dropped.has(b.contact)),
    );
  }

  /** The 200 listing the AOR's bindings (`bindings` when the caller has just read them). */
  private ok(
    req: SipRequest,
    aor: string,
    now: number,
    bindings = this.store.bindingsFor(aor, now),
  ): SipResponse {
    const res = createResponse(req, 200, 'OK');
    for (const b of bindings) {
      const left = Math.max(0, Math.round((b.expiresAt - now) / 1000));
      const q = b.q === 1 ? '' : `;q=${b.q}`;
      res.append('Contact', `<${b.contact}>;expires=${left}${q}`);
    }
    res.set('Date', formatSipDate(new Date(now)));
    return res;
  }
}
