// The records the call server keeps: users (digest HA1 hashes only, never passwords), registrar
// bindings, call detail records and the dialogs kept with them. The stores that hold them are in
// stores.ts (one interface per kind, opened by open-stores.ts).

export interface UserRecord {
  user: string;
  domain: string;
  /** MD5(user:realm:password), hex. */
  ha1Md5: string;
  /** SHA-256(user:realm:password), hex (RFC 8760); absent when only an MD5 HA1 was given. */
  ha1Sha256?: string;
  displayName?: string;
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
