// A CDR as a table row, the same for PostgreSQL and SQLite: the column list, the values of an
// insert and of a completion, a row read back, and a CdrQuery as a WHERE clause (the engines
// differ only in how they write a parameter and a substring test).
import type { CdrCause, CdrKey, CdrQuery, CdrRecord, DialogRecord, StoredCdr } from './stores.ts';

/** Columns of an insert, in the order of cdrInsertValues. */
export const CDR_INSERT_COLUMNS = [
  'cdr_key',
  'node',
  'call_id',
  'caller',
  'callee',
  'dialled',
  'start',
  'answer',
  '"end"',
  'duration',
  'final_status',
  'final_reason',
  'hung_up_by',
  'trunk',
  'packets',
  'lost',
  'jitter_ms',
  'mos',
  'dropped',
  'cause',
  'dialog',
] as const;

/** Columns a completion (updateCdr) sets, in the order of cdrUpdateValues (after the key). */
export const CDR_UPDATE_COLUMNS = [
  'answer',
  '"end"',
  'duration',
  'final_status',
  'final_reason',
  'hung_up_by',
  'packets',
  'lost',
  'jitter_ms',
  'mos',
  'dropped',
  'cause',
] as const;

type SqlValue = string | number | null;

export function cdrInsertValues(
  key: CdrKey,
  node: string,
  cdr: CdrRecord,
  dialog: DialogRecord | undefined,
): SqlValue[] {
  return [
    key,
    node,
    cdr.callId,
    cdr.caller,
    cdr.callee,
    cdr.dialled,
    cdr.start,
    cdr.answer ?? null,
    cdr.end ?? null,
    cdr.duration ?? null,
    cdr.finalStatus,
    cdr.finalReason ?? null,
    cdr.hungUpBy ?? null,
    cdr.trunk ?? null,
    cdr.packets ?? null,
    cdr.lost ?? null,
    cdr.jitterMs ?? null,
    cdr.mos ?? null,
    cdr.dropped ?? null,
    cdr.cause,
    dialog ? JSON.stringify(dialog) : null,
  ];
}

export function cdrUpdateValues(cdr: CdrRecord): SqlValue[] {
  return [
    cdr.answer ?? null,
    cdr.end ?? null,
    cdr.duration ?? null,
    cdr.finalStatus,
    cdr.finalReason ?? null,
    cdr.hungUpBy ?? null,
    cdr.packets ?? null,
    cdr.lost ?? null,
    cdr.jitterMs ?? null,
    cdr.mos ?? null,
    cdr.dropped ?? null,
    cdr.cause,
  ];
}

export interface CdrRow {
  id: number;
  cdr_key: string | null;
  node: string | null;
  call_id: string;
  caller: string;
  callee: string;
  dialled: string;
  start: number;
  answer: number | null;
  end: number | null;
  duration: number | null;
  final_status: number;
  final_reason: string | null;
  hung_up_by: string | null;
  trunk: string | null;
  packets: number | null;
  lost: number | null;
  jitter_ms: number | null;
  mos: number | null;
  dropped: number | null;
  cause: string | null;
}

const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

/**
 * A row as a StoredCdr: optional fields absent rather than null. A row an older trapezoid wrote
 * (SQLite, before keys) has the key `legacy-<id>` and the node ''.
 */
export function toStoredCdr(r: CdrRow): StoredCdr {
  const cdr: StoredCdr = {
    key: r.cdr_key ?? `legacy-${r.id}`,
    node: r.node ?? '',
    id: r.id,
    callId: r.call_id,
    caller: r.caller,
    callee: r.callee,
    dialled: r.dialled,
    start: r.start,
    finalStatus: r.final_status,
    cause: (r.cause ?? (r.answer !== null ? 'answered' : 'failed')) as CdrCause,
  };
  const optional = {
    answer: opt(r.answer),
    end: opt(r.end),
    duration: opt(r.duration),
    finalReason: opt(r.final_reason),
    hungUpBy: opt(r.hung_up_by) as CdrRecord['hungUpBy'],
    trunk: opt(r.trunk),
    packets: opt(r.packets),
    lost: opt(r.lost),
    jitterMs: opt(r.jitter_ms),
    mos: opt(r.mos),
    dropped: opt(r.dropped),
  };
  for (const [name, value] of Object.entries(optional))
    if (value !== undefined) (cdr as unknown as Record<string, unknown>)[name] = value;
  return cdr;
}

/** The most rows one listCdrs returns, whatever its limit. */
export const MAX_LIST = 10_000;
export const DEFAULT_LIST = 1000;

export interface SqlDialect {
  /** The placeholder of the n-th parameter (1-based): '$n' or '?'. */
  param(n: number): string;
  /** A test that `column` contains the text of parameter placeholder `p`. */
  contains(column: string, p: string): string;
}

/** A CdrQuery as WHERE conditions (joined with AND; '' when none) and their parameters. */
export function cdrQuerySql(
  query: CdrQuery,
  dialect: SqlDialect,
): { where: string; params: SqlValue[]; limit: number } {
  const conds: string[] = [];
  const params: SqlValue[] = [];
  const p = (v: SqlValue) => {
    params.push(v);
    return dialect.param(params.length);
  };
  if (query.since !== undefined) conds.push(`start >= ${p(query.since)}`);
  if (query.until !== undefined) conds.push(`start < ${p(query.until)}`);
  if (query.number !== undefined && query.number !== '') {
    const n = p(query.number);
    conds.push(
      `(${dialect.contains('caller', n)} OR ${dialect.contains('callee', n)} OR ` +
        `${dialect.contains('dialled', n)})`,
    );
  }
  if (query.cause !== undefined) conds.push(`cause = ${p(query.cause)}`);
  if (query.status !== undefined) conds.push(`final_status = ${p(query.status)}`);
  if (query.statusClass !== undefined) {
    const lo = p(query.statusClass * 100);
    const hi = p(query.statusClass * 100 + 100);
    conds.push(`final_status >= ${lo} AND final_status < ${hi}`);
  }
  if (query.trunk !== undefined) conds.push(`trunk = ${p(query.trunk)}`);
  if (query.node !== undefined) conds.push(`node = ${p(query.node)}`);
  const limit = Math.max(0, Math.min(MAX_LIST, Math.floor(query.limit ?? DEFAULT_LIST)));
  return { where: conds.length > 0 ? `WHERE ${conds.join(' AND ')}` : '', params, limit };
}
