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
}

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
  /** Seconds from answer to end; 0 when never answered. */
  duration: number;
  finalStatus: number;
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

export interface Store {
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
  /** The live binding whose Contact URI is exactly this (in-dialog requests to a NATed phone). */
  bindingByContact(contact: string, now: number): BindingRecord | undefined;
  /** Deletes expired bindings; returns how many. */
  purgeExpired(now: number): number;

  /** Writes one CDR and commits it before returning. */
  addCdr(cdr: CdrRecord): number;
  listCdrs(opts?: { limit?: number; since?: number }): CdrRecord[];

  close(): void;
}
