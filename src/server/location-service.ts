// The location service (RFC 3261 §10.3, RFC 3327): the registrar's side that binds an address of
// record to the contacts a REGISTER names, and the lookup that finds where to send a request for
// it. It checks the REGISTER (steps 6-7: Contact *, expiry, Min-Expires, the cap on contacts) and
// hands the changes to the LocationStore, which applies them atomically (the ordering check of
// step 7, the changes, the cap): two nodes taking REGISTERs for one AOR at once cannot interleave.
// Targets are typed (`BindingTarget`), and each binding names the node holding its flow, so a
// request arriving at another node of a cluster can be sent through that node.
//
// It runs after authentication: the caller has checked that the sender may register this AOR.
import {
  createResponse,
  formatSipDate,
  formatUri,
  type Contact,
  type SipUri,
  type SipRequest,
  type SipResponse,
} from '../sip/index.ts';
import type {
  Binding,
  BindingChangeRecord,
  BindingFlow,
  BindingTarget,
  ContactUpdate,
  LocationStore,
} from '../store/stores.ts';
import { formatEndpoint } from '../transport/index.ts';

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

/** The canonical AOR of a URI: scheme, user and host, lower-case host, no port or params. */
export function addressOfRecord(uri: SipUri): string {
  const scheme = uri.scheme === 'sips' ? 'sips' : 'sip';
  return `${scheme}:${uri.user ? `${uri.user}@` : ''}${uri.host.toLowerCase()}`;
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

/** Where a REGISTER came from and who holds its connection. */
export interface RegisterSource {
  target: BindingTarget;
  flow: BindingFlow;
}

export class LocationService {
  constructor(
    private readonly store: LocationStore,
    private readonly policy: RegistrarPolicy,
    private readonly now: () => number = Date.now,
    private readonly onChange: (change: BindingChange) => void = () => {},
  ) {}

  /**
   * Processes a REGISTER whose To AOR is `aor` (a local, authenticated user) and returns the
   * response to send: 200 with the current bindings, 400, 403 (too many contacts), 423 or 500.
   */
  async register(req: SipRequest, aor: string, source: RegisterSource): Promise<SipResponse> {
    let contacts: Contact[];
    let headerExpires: number | undefined;
    let path: string[];
    try {
      contacts = req.contact;
      headerExpires = req.expires;
      path = req.getAll('Path');
    } catch (err) {
      return createResponse(req, 400, `Bad Request: ${(err as Error).message}`.slice(0, 120));
    }
    const now = this.now();
    const maxBindings = this.policy.maxBindings ?? DEFAULT_MAX_BINDINGS;
    const base = {
      aor,
      callId: req.callId,
      cseq: req.cseq.seq,
      target: source.target,
      flow: source.flow,
      maxBindings,
      now,
    };

    // §10.3 step 6: "Contact: *" removes every binding, only with Expires: 0 and alone.
    if (contacts.some((c) => c.star)) {
      if (contacts.length !== 1 || headerExpires !== 0) {
        return createResponse(
          req,
          400,
          'Bad Request: Contact * needs Expires: 0 and no other contact',
        );
      }
      return this.apply(req, { ...base, removeAll: true, contacts: [] }, source);
    }

    // A REGISTER with no Contact is a query (§10.3 step 6): the 200 lists the bindings.
    const planned: ContactUpdate[] = [];
    for (const contact of contacts) {
      let expires = contact.expires ?? headerExpires ?? this.policy.defaultExpires;
      // Step 7: a too-brief expiry is refused as a whole with 423 and Min-Expires.
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
      planned.push({
        contact: uri,
        expires,
        q: contact.q ?? 1,
        ...(req.userAgent !== undefined ? { userAgent: req.userAgent.slice(0, 200) } : {}),
        ...(path.length > 0 ? { path } : {}),
      });
    }
    if (new Set(planned.filter((p) => p.expires > 0).map((p) => p.contact)).size > maxBindings) {
      return createResponse(
        req,
        403,
        `Forbidden (at most ${maxBindings} contacts per address-of-record)`,
      );
    }
    return this.apply(req, { ...base, contacts: planned }, source);
  }

  /** The AOR's live bindings, highest q first. */
  lookup(aor: string): Promise<Binding[]> {
    return this.store.lookup(aor, this.now());
  }

  private async apply(
    req: SipRequest,
    update: Parameters<LocationStore['register']>[0],
    source: RegisterSource,
  ): Promise<SipResponse> {
    const outcome = await this.store.register(update);
    if (!outcome.ok) {
      // Step 7: an older REGISTER of the same Call-ID arrived after a newer one.
      return createResponse(
        req,
        500,
        'Server Internal Error: REGISTER out of order (CSeq not higher)',
      );
    }
    for (const change of outcome.changes) this.report(update.aor, change, source, outcome.bindings);
    return this.ok(req, outcome.bindings, update.now);
  }

  private report(
    aor: string,
    change: BindingChangeRecord,
    source: RegisterSource,
    bindings: Binding[],
  ): void {
    const from = formatEndpoint(source.target);
    if (change.action === 'removed') {
      this.onChange({
        action: 'removed',
        aor,
        contact: change.contact,
        source: from,
        reason: change.reason ?? 'unregistered',
      });
      return;
    }
    const bound = bindings.find((b) => b.contact === change.contact);
    this.onChange({
      action: change.action,
      aor,
      contact: change.contact,
      source: from,
      expires: bound ? Math.round((bound.expiresAt - this.now()) / 1000) : 0,
      ...(bound?.userAgent !== undefined ? { userAgent: bound.userAgent.slice(0, 80) } : {}),
    });
  }

  /** The 200 listing the AOR's bindings with the time each has left (§10.3 step 8). */
  private ok(req: SipRequest, bindings: Binding[], now: number): SipResponse {
    const res = createResponse(req, 200, 'OK');
    for (const b of bindings) {
      const left = Math.max(0, Math.round((b.expiresAt - now) / 1000));
      const q = b.q === 1 ? '' : `;q=${b.q}`;
      res.append('Contact', `<${b.contact}>;expires=${left}${q}`);
    }
    // RFC 3327 §5.3: the Path the registrar stored is echoed in the 200.
    const path = bindings.find((b) => b.path && b.path.length > 0)?.path;
    for (const p of path ?? []) res.append('Path', p);
    res.set('Date', formatSipDate(new Date(now)));
    return res;
  }
}
