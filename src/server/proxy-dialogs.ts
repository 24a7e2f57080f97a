// The dialogs this proxy record-routed (RFC 3261 §16.6 step 4, §16.12, §12.2): what lets an
// in-dialog request through, and where it may go.
//
// A request with a To tag names a dialog; it is not authenticated again (RFC 3261 does not ask
// the UAs to), so it is forwarded only when all of this holds:
//   1. the dialog went through us: its Call-ID and tags match one we forwarded the dialog-creating
//      request (INVITE, SUBSCRIBE, REFER) of, and saw a To tag come back for;
//   2. a Route naming us carries the token we put in our Record-Route: an HMAC of the Call-ID and
//      the caller's tag, with a secret that never leaves the server (a Route forged by hand fails);
//   3. the next hop (the next Route, else the Request-URI) is the hop the dialog's other side was
//      recorded at: the next Record-Route entry on that side, else that side's Contact. A
//      participant of a real dialog cannot send it on to a third host.
// Anything else gets 481 (no such dialog) or 403 (a forged route, a foreign next hop), and a 2xx's
// ACK that fails is dropped. Target refreshes (re-INVITE, UPDATE, their 2xx) move a side's hop to
// its new Contact. Answered INVITE dialogs are written to the store so that a restarted server
// still routes their BYE (see DialogPersistence).
import { createHmac } from 'node:crypto';
import {
  formatUri,
  parseUri,
  type SipRequest,
  type SipResponse,
  type SipUri,
} from '../sip/index.ts';
import type { Endpoint } from '../transport/index.ts';
import type { DialogSideRecord } from '../store/store.ts';
import type { CdrStore, DialogRecord } from '../store/stores.ts';
import { ChurnMap } from './churn-map.ts';

/** Answered dialogs are kept with their call's CDR until it gets its end (src/store/stores.ts). */
export type DialogPersistence = Pick<CdrStore, 'openDialogs' | 'updateDialog'>;

/** The name of our Record-Route URI parameter that carries the dialog token. */
export const ROUTE_TOKEN_PARAM = 'tzd';
/** The hop of a side whose next hop is not known (a dialog taken over after a restart). */
const UNKNOWN_HOP = '';
/** Bytes of the HMAC kept in the token (96 bits). */
const TOKEN_BYTES = 12;
/** A dialog whose INVITE was never answered is forgotten after this (Timer C is 3 minutes). */
const EARLY_TTL_MS = 5 * 60_000;
/** An established dialog with no BYE seen is forgotten after this. */
const CONFIRMED_TTL_MS = 12 * 3600_000;
/** Expired dialogs are looked for at most this often. */
const EXPIRE_EVERY_MS = 1000;
/** The most dialogs kept in memory; the oldest go first beyond it. */
const DEFAULT_MAX_DIALOGS = 200_000;

/** One side of a dialog as this proxy sees it. */
export type DialogSide = DialogSideRecord;

export interface ProxiedDialog {
  callId: string;
  /** The From tag of the dialog-creating request. */
  callerTag: string;
  /** The token of our Record-Route in this dialog (see token()). */
  token: string;
  method: string;
  caller: DialogSide;
  /**
   * One callee per To tag (a forked INVITE can set up several early dialogs); a side known only
   * from an 18x is kept as that response until something needs it (calleeSide()).
   */
  callees: Map<string, DialogSide | EarlySide>;
  confirmed: boolean;
  expiresAt: number;
}

/** Where an in-dialog request goes, or why it may not. */
export type DialogRouting =
  | { ok: true; dialog: ProxiedDialog; toward: DialogSide; towardCallee: boolean }
  | { ok: false; status: 403 | 481; reason: string };

/** The host, port and transport a URI names, to compare two hops. */
function hopKey(uri: SipUri): string {
  const transport = uri.params.transport?.toLowerCase() ?? (uri.scheme === 'sips' ? 'tls' : 'udp');
  const host = uri.host.toLowerCase();
  return `${transport}|${host}|${uri.port ?? ''}`;
}

/**
 * A callee side seen only in an 18x (an early dialog): most calls send no request in one, so its
 * hop is worked out from the response when a request or the store first needs it, not for every
 * ringing call. Replaced by the side of the 2xx.
 */
class EarlySide {
  constructor(
    readonly res: SipResponse,
    readonly endpoint: Endpoint,
    readonly connectionId: string | undefined,
  ) {}
}

export class ProxyDialogs {
  private readonly dialogs = new ChurnMap<string, ProxiedDialog>();
  private readonly maxDialogs: number;
  private readonly now: () => number;

  constructor(
    private secret: Buffer,
    private readonly persistence?: DialogPersistence,
    opts: { maxDialogs?: number; now?: () => number } = {},
  ) {
    this.maxDialogs = opts.maxDialogs ?? DEFAULT_MAX_DIALOGS;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Signs tokens with `secret` from now on (the store's, read when the server starts), mixed
   * with `node`: in a cluster the secret is shared, and two nodes on one call's path (one
   * carrying it to the node holding the callee's connection) must not write the same token, or
   * each would take the other's Record-Route for its own.
   */
  useSecret(secret: Buffer, node = ''): void {
    this.secret = secret;
    this.scope = node;
  }

  private scope = '';

  /** The token our Record-Route carries for a dialog set up by this Call-ID and From tag. */
  token(callId: string, callerTag: string): string {
    // One process (no scope) signs as earlier versions did: its stored dialogs stay valid. One
    // update of the joined text (the same bytes as one update per part, fewer native calls).
    const text =
      this.scope !== '' ? `${this.scope}\0${callId}\0${callerTag}` : `${callId}\0${callerTag}`;
    return createHmac('sha256', this.secret)
      .update(text)
      .digest()
      .subarray(0, TOKEN_BYTES)
      .toString('base64url');
  }

  /** Whether a Route URI of ours carries the token of the dialog this request names. */
  validToken(route: SipUri, req: SipRequest): boolean {
    const given = route.params[ROUTE_TOKEN_PARAM];
    if (!given) return false;
    const callId = req.callId;
    const fromTag = req.from.tag ?? '';
    const toTag = req.to.tag ?? '';
    // The dialogs held here carry their token: a request of a call in progress that shows it
    // needs no HMAC. Anything else (a dialog not held, a wrong token) is checked in full.
    const known = this.dialogs.get(callId);
    if (
      known !== undefined &&
      given === known.token &&
      (known.callerTag === fromTag || known.callerTag === toTag)
    )
      return true;
    return given === this.token(callId, fromTag) || given === this.token(callId, toTag);
  }

  /**
   * A dialog-creating request is being forwarded: remember its caller side (the next hop toward
   * it is the request's top Record-Route, else its Contact). Returns the token for our
   * Record-Route.
   */
  begin(req: SipRequest, caller: Omit<DialogSide, 'hop' | 'hopIsContact'>): string {
    const key = req.callId;
    const callerTag = req.from.tag ?? '';
    const known = this.dialogs.get(key);
    // A second branch set for the same Call-ID keeps the first dialog.
    if (known && known.callerTag === callerTag) return known.token;
    const token = this.token(key, callerTag);
    const hop = nextHopTowardCaller(req);
    if (!hop || known) return token;
    this.evict();
    // Built field by field (no spread: this runs for every call).
    const side: DialogSide = {
      hop: hop.hop,
      hopIsContact: hop.hopIsContact,
      endpoint: caller.endpoint,
    };
    if (caller.connectionId !== undefined) side.connectionId = caller.connectionId;
    if (caller.aor !== undefined) side.aor = caller.aor;
    this.dialogs.set(key, {
      callId: key,
      callerTag,
      token,
      method: req.method,
      caller: side,
      callees: new Map(),
      confirmed: false,
      expiresAt: this.now() + EARLY_TTL_MS,
    });
    return token;
  }

  /** A response to the dialog-creating request came from downstream (from `endpoint`). */
  response(res: SipResponse, endpoint: Endpoint, connectionId?: string): void {
    const dialog = this.dialogs.get(res.callId);
    if (!dialog || res.cseq.method !== dialog.method) return;
    const toTag = res.to.tag;
    if (res.status >= 300) {
      // No dialog came of it (§12.1): forget the early ones unless another branch answered.
      if (!dialog.confirmed && dialog.method === 'INVITE' && toTag !== undefined)
        dialog.callees.delete(toTag);
      return;
    }
    if (res.status <= 100 || toTag === undefined) return;
    if (res.status < 200) {
      // A dialog-creating 18x carries a Contact (§12.1.1): one without can set up nothing.
      if (res.has('Contact')) dialog.callees.set(toTag, new EarlySide(res, endpoint, connectionId));
      return;
    }
    const side = this.sideOf(res, dialog.token, endpoint, connectionId);
    if (!side) return;
    dialog.callees.set(toTag, side);
    if (!dialog.confirmed) {
      dialog.confirmed = true;
      dialog.expiresAt = this.now() + CONFIRMED_TTL_MS;
    }
  }

  /** The final answer to the dialog-creating request was not a 2xx: no dialog remains. */
  failed(callId: string): void {
    const dialog = this.dialogs.get(callId);
    if (dialog && !dialog.confirmed) this.dialogs.delete(callId);
  }

  /**
   * Decides whether an in-dialog request may be forwarded and toward which side. `next` is the
   * next hop the request names (the first Route after ours, else the Request-URI),
   * `viaOurRoute` whether it carried a Route naming us (its token already checked), and
   * `addressedToUs` whether it came with no Route and a Request-URI of ours (a UA that ignored
   * our Record-Route).
   */
  route(
    req: SipRequest,
    next: SipUri,
    viaOurRoute: boolean,
    addressedToUs: boolean,
  ): DialogRouting {
    const found = this.find(req);
    if (!found) return { ok: false, status: 481, reason: 'Call/Transaction Does Not Exist' };
    const { dialog, towardCallee, toward } = found;
    // A UA that ignored our Record-Route sends to us with no Route: it may only reach the other
    // side of a dialog it is in, wherever it asked to go.
    if (!viaOurRoute && addressedToUs) return { ok: true, dialog, toward, towardCallee };
    // A dialog taken over after a restart whose caller hop is unknown: the caller's address only.
    if (toward.hop === UNKNOWN_HOP) return { ok: true, dialog, toward, towardCallee };
    if (hopKey(next) !== hopKey(parseHop(toward.hop))) {
      return { ok: false, status: 403, reason: "Forbidden (not this dialog's route)" };
    }
    return { ok: true, dialog, toward, towardCallee };
  }

  /**
   * A 2xx to an INVITE this process did not forward (a previous process did, and died before
   * the answer): when the 2xx carries our Record-Route with the dialog's token, the dialog is
   * taken over as answered. The caller's hop is then the Record-Route entry below ours, or
   * unknown (the INVITE's Contact is gone with the old process): its requests then go to the
   * caller's address only, whatever they name. Returns whether it was taken over.
   */
  adopt(
    res: SipResponse,
    caller: Endpoint,
    callee: Omit<DialogSide, 'hop' | 'hopIsContact'>,
  ): DialogRecord | undefined {
    const callId = res.callId;
    const callerTag = res.from.tag ?? '';
    const toTag = res.to.tag;
    if (toTag === undefined) return undefined;
    const token = this.token(callId, callerTag);
    const rr = res.recordRoute;
    const at = rr.findIndex((r) => r.uri.params[ROUTE_TOKEN_PARAM] === token);
    if (at < 0) return undefined;
    const towardCallee = this.hopTowardCallee(res, token);
    if (!towardCallee) return undefined;
    const known = this.dialogs.get(callId);
    if (known) {
      // This process is already forwarding the caller's retransmitted INVITE: the old answer
      // confirms the dialog all the same.
      if (known.callerTag !== callerTag) return undefined;
      if (!known.callees.has(toTag)) {
        known.callees.set(toTag, { ...towardCallee, ...callee });
        known.confirmed = true;
        known.expiresAt = this.now() + CONFIRMED_TTL_MS;
      }
      return this.record(callId, toTag);
    }
    const below = rr[at + 1];
    const dialog: ProxiedDialog = {
      callId,
      callerTag,
      token,
      method: 'INVITE',
      caller: below
        ? { hop: formatUri(below.uri), hopIsContact: false, endpoint: caller }
        : { hop: UNKNOWN_HOP, hopIsContact: true, endpoint: caller },
      callees: new Map([[toTag, { ...towardCallee, ...callee }]]),
      confirmed: true,
      expiresAt: this.now() + CONFIRMED_TTL_MS,
    };
    this.evict();
    this.dialogs.set(callId, dialog);
    return this.record(callId, toTag);
  }

  /**
   * What the store keeps of an answered dialog (its leg toward `calleeTag`): written with the
   * call's CDR at the answer, in the same commit.
   */
  record(callId: string, calleeTag: string | undefined): DialogRecord | undefined {
    const dialog = this.dialogs.get(callId);
    if (!dialog || calleeTag === undefined || dialog.method !== 'INVITE') return undefined;
    const callee = this.calleeSide(dialog, calleeTag);
    if (!callee) return undefined;
    return {
      callId,
      callerTag: dialog.callerTag,
      calleeTag: calleeTag!,
      caller: dialog.caller,
      callee,
      expiresAt: dialog.expiresAt,
    };
  }

  /** Whether an in-dialog request was sent by the callee side of its dialog. */
  sentByCallee(req: SipRequest): boolean {
    const dialog = this.dialogs.get(req.callId);
    return dialog !== undefined && req.to.tag === dialog.callerTag;
  }

  /**
   * A target refresh (re-INVITE, UPDATE) or its 2xx passed, sent by the callee side or not: that
   * side is now reached at its new Contact, unless a Record-Route entry stands between us and it.
   */
  refresh(message: SipRequest | SipResponse, fromCallee: boolean): void {
    const dialog = this.dialogs.get(message.callId);
    if (!dialog) return;
    const contact = message.contact[0];
    if (!contact || contact.star) return;
    // The callee's tag is the From tag of its requests, the To tag of the responses it sends.
    const isRequest = 'method' in message;
    const calleeTag = (fromCallee === isRequest ? message.from.tag : message.to.tag) ?? '';
    const side = fromCallee ? this.calleeSide(dialog, calleeTag) : dialog.caller;
    if (!side || !side.hopIsContact) return;
    side.hop = formatUri(contact.uri);
    if (!dialog.confirmed) return;
    // The stored copy follows (a rare write: target refreshes are few).
    const tags = fromCallee ? [calleeTag] : [...dialog.callees.keys()];
    for (const tag of tags) {
      const record = this.record(dialog.callId, tag);
      if (record) this.persistence?.updateDialog(record).catch(() => {});
    }
  }

  /**
   * The dialog ended (a BYE was answered 2xx or 481): forgotten here. Its stored copy goes with
   * the CDR's end, written in the same commit.
   */
  end(callId: string): void {
    this.dialogs.delete(callId);
  }

  private find(
    req: SipRequest,
  ): { dialog: ProxiedDialog; towardCallee: boolean; toward: DialogSide } | undefined {
    const dialog = this.dialogs.get(req.callId);
    if (!dialog || dialog.expiresAt < this.now()) return undefined;
    const fromTag = req.from.tag ?? '';
    const toTag = req.to.tag ?? '';
    if (fromTag === dialog.callerTag) {
      const callee = this.calleeSide(dialog, toTag);
      if (callee) return { dialog, towardCallee: true, toward: callee };
    }
    if (toTag === dialog.callerTag && this.calleeSide(dialog, fromTag) !== undefined) {
      return { dialog, towardCallee: false, toward: dialog.caller };
    }
    return undefined;
  }

  /** The side of the callee tagged `tag`, worked out now if an 18x only noted it. */
  private calleeSide(dialog: ProxiedDialog, tag: string): DialogSide | undefined {
    const known = dialog.callees.get(tag);
    if (!(known instanceof EarlySide)) return known;
    const side = this.sideOf(known.res, dialog.token, known.endpoint, known.connectionId);
    if (side) dialog.callees.set(tag, side);
    else dialog.callees.delete(tag);
    return side;
  }

  /** The callee side a response (from `endpoint`) names, if it names a hop. */
  private sideOf(
    res: SipResponse,
    token: string,
    endpoint: Endpoint,
    connectionId: string | undefined,
  ): DialogSide | undefined {
    const hop = this.hopTowardCallee(res, token);
    if (!hop) return undefined;
    return connectionId !== undefined
      ? { hop: hop.hop, hopIsContact: hop.hopIsContact, endpoint, connectionId }
      : { hop: hop.hop, hopIsContact: hop.hopIsContact, endpoint };
  }

  private hopTowardCallee(res: SipResponse, mine: string): Hop | undefined {
    // In a response the Record-Route list runs from the callee's nearest proxy (top) to the
    // caller's; ours is the entry with our token. The one above it is the next hop down.
    const rr = res.recordRoute;
    const at = rr.findIndex((r) => r.uri.params[ROUTE_TOKEN_PARAM] === mine);
    if (at > 0) return { hop: formatUri(rr[at - 1]!.uri), hopIsContact: false };
    const contact = res.contact[0];
    return contact && !contact.star
      ? { hop: formatUri(contact.uri), hopIsContact: true }
      : undefined;
  }

  /**
   * Makes sure a dialog this process does not hold (a restart, or a dialog answered before it)
   * is read from the store before an in-dialog request of `callId` is routed: the Promise of that
   * read, or undefined when there is nothing to read (the dialog is held, or nothing is stored).
   */
  preload(callId: string): Promise<void> | undefined {
    if (!this.persistence || this.dialogs.has(callId)) return undefined; // in memory already
    return this.readBack(callId, this.persistence);
  }

  private async readBack(callId: string, persistence: DialogPersistence): Promise<void> {
    const records = await persistence.openDialogs(callId, this.now());
    if (records.length === 0 || this.dialogs.has(callId)) return;
    const first = records[0]!;
    const dialog: ProxiedDialog = {
      callId,
      callerTag: first.callerTag,
      token: this.token(callId, first.callerTag),
      method: 'INVITE',
      caller: first.caller,
      callees: new Map(records.map((r) => [r.calleeTag, r.callee])),
      confirmed: true,
      expiresAt: first.expiresAt,
    };
    this.evict();
    this.dialogs.set(callId, dialog);
  }

  /** When evict() last looked for expired dialogs. */
  private lastExpiry = -Infinity;

  /**
   * Drops expired dialogs from the oldest (looked for at most once a second: not for every call),
   * and the oldest ones beyond the cap.
   */
  private evict(): void {
    const now = this.now();
    if (this.dialogs.size < this.maxDialogs && now - this.lastExpiry < EXPIRE_EVERY_MS) return;
    this.lastExpiry = now;
    for (const [id, d] of this.dialogs) {
      if (this.dialogs.size < this.maxDialogs && d.expiresAt >= now) {
        // Entries are in insertion order, not expiry order: stop at the first live one unless
        // over the cap (an answered dialog lives longer than the early ones after it).
        break;
      }
      this.dialogs.delete(id);
    }
  }
}

/** The next hop toward the caller of a dialog-creating request: its top Record-Route, or Contact. */
function nextHopTowardCaller(req: SipRequest): Hop | undefined {
  const rr = req.recordRoute;
  if (rr.length > 0) return { hop: formatUri(rr[0]!.uri), hopIsContact: false };
  const contact = req.contact[0];
  return contact && !contact.star ? { hop: formatUri(contact.uri), hopIsContact: true } : undefined;
}

type Hop = Pick<DialogSide, 'hop' | 'hopIsContact'>;

function parseHop(hop: string): SipUri {
  return parseUri(hop);
}
