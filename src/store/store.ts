// What the call server keeps: users (digest HA1 hashes only, never passwords), registrar
// bindings, and call detail records. The embedded default is SQLite (sqlite-store.ts); a
// networked database can implement the same interface later.

export interface UserRecord {
  user: string;
  domain: string;
  /** MD5(user:realm:password), hex. */
  ha1Md5: string;
  /** SHA-256(user:realm:password), hex (RFC 8760); absent when only an MD5 HA1 was given. */
  ha1Sha256?: string;
  displayName?: string;
}

/** A binding deleted because it expired. */
export interface ExpiredBinding {
  aor: string;
  contact: string;
  target: string;
}

export interface BindingRecord {
  /** Address of record, 'sip:1000@demo.trapezoid'. */
  aor: string;
  /** The Contact URI as registered. */
  contact: string;
  /** Where requests for this contact really go: the REGISTER's source (NAT), 'udp:1.2.3.4:5060'. */
  target: string;
  q: number;
  /** Absolute expiry, milliseconds since the epoch. */
  expiresAt: number;
  callId: string;
  cseq: number;
  userAgent?: string;
  /** Connection the REGISTER came on, for connection-oriented transports. */
  connectionId?: string;
  /** The cluster node holding that connection (or that took the REGISTER). */
  node?: string;
}

/**
 * Why a call attempt ended as it did, beside its SIP status:
 *   answered            answered (the row is written then, and its end added at the BYE)
 *   server-restart      answered, and the server restarted before seeing its end (end unknown
 *                       unless a BYE came after the restart)
 *   node-lost           answered on a cluster node that died; a surviving node closed the row
 *   not-registered      our user has no live binding (480)
 *   no-route            no such user or number here (404)
 *   auth-failed         wrong credentials (403 after a challenge)
 *   forbidden           refused by policy: relaying, trunk without a local user, TLS only (403)
 *   rejected-by-dialplan a dial-plan rule of action reject
 *   callee-busy         486 / 600 from the callee
 *   declined            603 from the callee
 *   timeout             no final answer (408, Timer C)
 *   cancelled           the caller cancelled (487)
 *   media-unavailable   the media relay had no ports, or the SDP was unusable (503 / 488)
 *   failed              any other failure answer from downstream
 */
export type CdrCause =
  | 'answered'
  | 'server-restart'
  | 'node-lost'
  | 'not-registered'
  | 'no-route'
  | 'auth-failed'
  | 'forbidden'
  | 'rejected-by-dialplan'
  | 'callee-busy'
  | 'declined'
  | 'timeout'
  | 'cancelled'
  | 'media-unavailable'
  | 'failed';

export interface CdrRecord {
  id?: number;
  callId: string;
  caller: string;
  callee: string;
  dialled: string;
  /** Milliseconds since the epoch. */
  start: number;
  answer?: number;
  end?: number;
  /** Seconds from answer to end; 0 when never answered; undefined while the end is unknown. */
  duration?: number;
  finalStatus: number;
  /** Why the attempt ended the way it did (see CdrCause). */
  cause: CdrCause;
  finalReason?: string;
  hungUpBy?: 'caller' | 'callee' | 'server';
  trunk?: string;
  /** Media quality when the server relayed the media. */
  packets?: number;
  lost?: number;
  jitterMs?: number;
  mos?: number;
  /** Media packets from a source other than the latched one (injection), dropped by the relay. */
  dropped?: number;
}

/** One side of a dialog the proxy record-routed (src/server/proxy-dialogs.ts). */
export interface DialogSideRecord {
  /** The next hop toward this side: the next Record-Route URI, or the side's Contact. */
  hop: string;
  /** The hop is the side's Contact (no proxy between it and us): a target refresh moves it. */
  hopIsContact: boolean;
  /** Where that side's messages came from, and the connection they came on. */
  endpoint: { protocol: 'udp' | 'tcp' | 'tls' | 'ws' | 'wss'; address: string; port: number };
  connectionId?: string;
  /** Address-of-record of a local user on this side. */
  aor?: string;
}

/** An answered dialog, kept so that a restarted server still routes its BYE. */
export interface DialogRecord {
  callId: string;
  callerTag: string;
  calleeTag: string;
  caller: DialogSideRecord;
  callee: DialogSideRecord;
  expiresAt: number;
}

/**
 * Answered dialogs are kept with their call's CDR (addCdr's `dialog`, in the same commit) until
 * the CDR gets its end.
 */
export interface DialogPersistence {
  /** The stored dialogs of a Call-ID whose call has no end yet and that have not expired. */
  openDialogs(callId: string, now: number): DialogRecord[];
  /** A target refresh moved a side of a stored dialog. */
  updateDialog(d: DialogRecord): void;
}

export interface Store extends DialogPersistence {
  putUser(u: UserRecord): void;
  removeUser(user: string, domain: string): boolean;
  getUser(user: string, domain: string): UserRecord | undefined;
  listUsers(domain?: string): UserRecord[];

  putBinding(b: BindingRecord): void;
  removeBinding(aor: string, contact: string): void;
  removeBindings(aor: string): void;
  /** Bindings of an AOR that have not expired at `now`, highest q first. */
  bindingsFor(aor: string, now: number): BindingRecord[];
  allBindings(now: number): BindingRecord[];
  /** Deletes expired bindings; returns them. */
  purgeExpired(now: number): ExpiredBinding[];

  /**
   * Writes one CDR and commits it before returning; returns its id. `dialog`: the answered
   * dialog's route, kept with the row until its end is written.
   */
  addCdr(cdr: CdrRecord, dialog?: DialogRecord): number;
  /**
   * Completes the CDR `id` (end, duration, status, cause, media) and commits before returning;
   * once it has an end, its dialog is no longer kept.
   */
  updateCdr(id: number, cdr: CdrRecord): void;
  /** Whether any CDR of this Call-ID was written. */
  hasCdr(callId: string): boolean;
  /** The answered CDR of this Call-ID whose end is not known yet, if any. */
  openCdr(callId: string): CdrRecord | undefined;
  /**
   * At start: every answered CDR with no end (the previous process died during those calls)
   * gets cause `server-restart`; its end stays unknown. Returns how many.
   */
  closeInterruptedCdrs(): number;
  listCdrs(opts?: { limit?: number; since?: number }): CdrRecord[];

  /**
   * A random secret of this name (32 bytes), made on first use and kept: what signs our
   * Record-Route tokens, so that a restarted server still recognises the dialogs it routed.
   */
  secret(name: string): Buffer;

  close(): void;
}
