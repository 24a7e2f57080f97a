// The storage seams of the call server, split by what they hold and asynchronous, so that one
// process (SQLite, the embedded default) and a cluster of nodes (Redis for short-lived shared
// state, PostgreSQL for durable records) run the same server code:
//
//   UserStore       users (digest HA1 hashes only)                 sqlite | postgres
//   LocationStore   registrar bindings, per AOR, with their expiry   sqlite | redis
//   CdrStore        call detail records (+ the answered dialog route) sqlite | postgres
//   SecurityStore   bans, digest nonce counts, shared secrets        memory/sqlite | redis
//   NodeRegistry    node heartbeats and each node's calls in progress  (one node: none) | redis
//
// Every method returns a Promise. A method that says "atomic" does its read-check-write as one
// step on the engine (a SQLite transaction, a Redis Lua script, a PostgreSQL transaction), so two
// nodes handling requests for the same AOR or nonce at once cannot interleave.
import type { CdrCause, CdrRecord, DialogRecord, UserRecord } from './store.ts';

export type { CdrCause, CdrRecord, DialogRecord, UserRecord } from './store.ts';

// ---- users ------------------------------------------------------------------------------------

export interface UserStore {
  putUser(u: UserRecord): Promise<void>;
  removeUser(user: string, domain: string): Promise<boolean>;
  getUser(user: string, domain: string): Promise<UserRecord | undefined>;
  listUsers(domain?: string): Promise<UserRecord[]>;
  close(): Promise<void>;
}

// ---- locations --------------------------------------------------------------------------------

/** Where requests for a binding go: the REGISTER's real source (behind NAT: the NAT's address). */
export interface BindingTarget {
  protocol: 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';
  address: string;
  port: number;
}

/** The connection a binding is tied to (TCP/TLS/WS flow, or a UDP NAT pinhole) and who holds it. */
export interface BindingFlow {
  /** The node that received the REGISTER and holds the connection (its node id). */
  node: string;
  /** That node's connection id (stream transports); absent for UDP. */
  connectionId?: string;
}

export interface Binding {
  /** Canonical address of record, 'sip:1000@example.com'. */
  aor: string;
  /** The Contact URI as registered (the binding's key within its AOR). */
  contact: string;
  target: BindingTarget;
  flow: BindingFlow;
  q: number;
  /** Absolute expiry, ms since the epoch. */
  expiresAt: number;
  callId: string;
  cseq: number;
  userAgent?: string;
  /** RFC 3327 Path header values of the REGISTER, in order (a request to it is routed along them). */
  path?: string[];
}

/** One Contact of a REGISTER, as the registrar decided it (expires 0: remove it). */
export interface ContactUpdate {
  contact: string;
  /** Seconds granted; 0 removes the binding. */
  expires: number;
  q: number;
  userAgent?: string;
  path?: string[];
}

/** A REGISTER's changes to one AOR (RFC 3261 §10.3 steps 6-8), applied atomically. */
export interface RegistrationUpdate {
  aor: string;
  callId: string;
  cseq: number;
  /** Where the REGISTER came from and the node/connection that holds it. */
  target: BindingTarget;
  flow: BindingFlow;
  /** "Contact: *" with Expires 0: remove every binding (except those a newer request wrote). */
  removeAll?: boolean;
  contacts: ContactUpdate[];
  /** The most bindings the AOR may hold; those closest to expiry are dropped to make room. */
  maxBindings: number;
  /** The registrar's clock, ms since the epoch. */
  now: number;
}

export interface BindingChangeRecord {
  action: 'added' | 'refreshed' | 'removed';
  contact: string;
  /** For removed: why. */
  reason?: 'unregistered' | 'over-cap';
}

export type RegistrationOutcome =
  /** Applied: the AOR's bindings now (highest q first) and what changed. */
  | { ok: true; bindings: Binding[]; changes: BindingChangeRecord[] }
  /**
   * Not applied at all: a contact's existing binding has the same Call-ID and a CSeq not lower
   * than this request's (§10.3 step 7: an old REGISTER arriving late). Answer 500.
   */
  | { ok: false; reason: 'out-of-order' };

export interface LocationStore {
  /** Atomic: the §10.3 ordering check, the changes and the cap, as one step. */
  register(update: RegistrationUpdate): Promise<RegistrationOutcome>;
  /** The AOR's live bindings at `now`, highest q first (ties: most recently refreshed first). */
  lookup(aor: string, now: number): Promise<Binding[]>;
  /** Every live binding (for /api/registrations), at most `limit`. */
  all(now: number, limit?: number): Promise<Binding[]>;
  /** Deletes bindings expired at `now` and returns them (engines with TTLs may return []). */
  purgeExpired(now: number): Promise<Binding[]>;
  /** Removes every binding whose flow is held by `node` on a stream connection that died. */
  removeFlow(node: string, connectionId: string): Promise<number>;
  close(): Promise<void>;
}

// ---- call detail records ----------------------------------------------------------------------

/**
 * A CDR's key: made by the writer (not by the database), so a row spooled while the database is
 * down keeps its identity and is written once when it comes back.
 */
export type CdrKey = string;

export interface CdrQuery {
  limit?: number;
  /** Calls started at or after this time (ms since the epoch). */
  since?: number;
  until?: number;
  /** A substring of caller, callee or dialled number. */
  number?: string;
  cause?: CdrCause;
  /** An exact status, or a class such as 4 for 4xx. */
  status?: number;
  statusClass?: number;
  trunk?: string;
  /** Only calls handled by this node. */
  node?: string;
}

export interface StoredCdr extends CdrRecord {
  key: CdrKey;
  /** The node that handled the call. */
  node: string;
}

export interface CdrStore {
  /**
   * Writes one CDR, durably before the Promise resolves (committed, or spooled to local disk
   * while the database is unreachable). `dialog`: the answered dialog's route, kept with the row
   * until its end is written.
   */
  addCdr(key: CdrKey, node: string, cdr: CdrRecord, dialog?: DialogRecord): Promise<void>;
  /** Completes a CDR (end, duration, status, cause, media); its dialog is then dropped. */
  updateCdr(key: CdrKey, cdr: CdrRecord): Promise<void>;
  hasCdr(callId: string): Promise<boolean>;
  /** The answered CDR of this Call-ID whose end is not known yet, if any. */
  openCdr(callId: string): Promise<StoredCdr | undefined>;
  /** Stored dialogs of a Call-ID whose call has no end yet and that have not expired. */
  openDialogs(callId: string, now: number): Promise<DialogRecord[]>;
  /** A target refresh moved a side of a stored dialog. */
  updateDialog(d: DialogRecord): Promise<void>;
  /**
   * Every answered CDR of `node` with no end gets `cause` (server-restart when a node restarts,
   * node-lost when a survivor closes a dead node's calls); the end stays unknown. Returns how many.
   */
  closeOpenCdrs(node: string, cause: 'server-restart' | 'node-lost'): Promise<number>;
  listCdrs(query?: CdrQuery): Promise<StoredCdr[]>;
  /** Rows waiting in the local spool (0 when the database took them all). */
  readonly spooled: number;
  close(): Promise<void>;
}

// ---- shared security state --------------------------------------------------------------------

/** Why a source is banned (src/server/security-guard.ts issues them). */
export type BanReason =
  /** More requests than security.rateLimit allows (a flood, a scan at full speed). */
  | 'rate-limit'
  /** Too many failed authentications from this source. */
  | 'brute-force'
  /** Failed authentication against a user already under attack from elsewhere. */
  | 'user-under-attack';

export interface StoredBan {
  source: string;
  reason: BanReason;
  /** ms since the epoch. */
  until: number;
  user?: string;
  /** The node that issued it. */
  node: string;
}

/** A secret with its key id: new tokens use the newest; older ones verify until they expire. */
export interface KeyedSecret {
  kid: string;
  key: Buffer;
  /** ms since the epoch. */
  createdAt: number;
}

export interface SecurityStore {
  /** Bans a source on every node (an existing ban is extended, never shortened). */
  ban(ban: StoredBan): Promise<void>;
  unban(source: string): Promise<boolean>;
  bans(now: number): Promise<StoredBan[]>;
  /**
   * Calls `listener` for each ban or unban made by any node (this one included), within about a
   * second. Returns a function that stops listening.
   */
  onBanChange(
    listener: (change: { action: 'ban' | 'unban'; ban: StoredBan | { source: string } }) => void,
  ): Promise<() => void>;
  /**
   * Atomic: records nonce count `nc` for `nonce` and says whether it is new (higher than any
   * count seen for that nonce on any node). `ttlMs`: how long the nonce can be used at all.
   * nc 0 means a response without qop: the nonce is used up.
   */
  useNonce(nonce: string, nc: number, ttlMs: number): Promise<boolean>;
  /**
   * The secrets of this name, newest first: made on first use, rotated (a new one added, the
   * oldest dropped) when the newest is older than `rotateMs`; at most `keep` are kept.
   */
  secrets(name: string, rotateMs: number, keep: number): Promise<KeyedSecret[]>;
  close(): Promise<void>;
}

// ---- nodes --------------------------------------------------------------------------------------

export interface NodeInfo {
  node: string;
  /** Where the node's SIP listeners are, e.g. ['udp:127.0.0.2:5060']. */
  sip: string[];
  /** ms since the epoch of its last heartbeat. */
  seenAt: number;
}

export interface NodeRegistry {
  /** This node is alive for `ttlMs` more (call every ttl/3). */
  heartbeat(info: NodeInfo, ttlMs: number): Promise<void>;
  /** Nodes whose heartbeat has not expired. */
  liveNodes(): Promise<NodeInfo[]>;
  /** Nodes that had calls in progress and whose heartbeat expired (their calls are orphaned). */
  deadNodesWithCalls(): Promise<string[]>;
  /** A call answered on `node` (its CDR key), until callEnded. */
  callStarted(node: string, callId: string, key: CdrKey): Promise<void>;
  callEnded(node: string, callId: string): Promise<void>;
  /**
   * Atomic: takes over a dead node's calls (exactly one survivor gets them): returns their CDR
   * keys and forgets them; [] when another node took them first or the node is alive.
   */
  claimCalls(deadNode: string): Promise<Array<{ callId: string; key: CdrKey }>>;
  close(): Promise<void>;
}
