// Several CDR writes (inserts, completions, dialog refreshes) as ONE PostgreSQL statement: one
// round trip, one parse (a named statement, prepared once per connection) and one commit, so one
// WAL flush, whatever the number of rows.
//
// The rows travel as one array per column and are turned back into rows by unnest(): the SQL
// text does not depend on how many rows a batch holds, which is what lets it be prepared once
// (a multi-row VALUES list would be a new statement, parsed and planned again, per batch size).
// Each kind of write is a data-modifying CTE of the same statement:
//
//   WITH ins AS (INSERT INTO cdrs (...) SELECT ... FROM unnest($1::text[], ...) AS v(...)
//                ON CONFLICT (cdr_key) DO NOTHING),
//        upd AS (UPDATE cdrs SET ... FROM unnest(...) AS v(...) WHERE cdrs.cdr_key = v.cdr_key),
//        dlg AS (UPDATE cdrs SET dialog = ... FROM unnest(...) AS v(...) WHERE cdrs.call_id = ...)
//   SELECT 1
//
// The three parts run against one snapshot and none sees the rows another one changes, so a
// batch is only equivalent to its writes applied one after the other when no two of them touch
// the same row: batchLength() never puts two writes of one Call-ID or one CDR key in a batch (a
// CDR key belongs to one call). A statement either commits every row or none: when one row is
// refused (a constraint, a bad value) the caller applies the batch's writes one by one instead.
//
// The parts with no rows cost little (an empty unnest ends its join at once). The statement is
// meant for connections with plan_cache_mode=force_generic_plan and enable_seqscan=off (see
// writePool in postgres-cdrs.ts): its one generic plan then joins through the cdr_key and
// call_id indexes whatever the size of the table when it was made.
import {
  CDR_INSERT_COLUMNS,
  CDR_UPDATE_COLUMNS,
  cdrInsertValues,
  cdrUpdateValues,
} from './cdr-rows.ts';
import type { SpoolEntry } from './cdr-spool.ts';

/** The most writes in one batch statement. */
export const MAX_BATCH = 500;

/** The PostgreSQL type of each column a write sets (see the schema in postgres-schema.ts). */
const COLUMN_TYPES: Record<string, string> = {
  cdr_key: 'text',
  node: 'text',
  call_id: 'text',
  caller: 'text',
  callee: 'text',
  dialled: 'text',
  start: 'int8',
  answer: 'int8',
  '"end"': 'int8',
  duration: 'float8',
  final_status: 'int4',
  final_reason: 'text',
  hung_up_by: 'text',
  trunk: 'text',
  packets: 'int8',
  lost: 'int8',
  jitter_ms: 'float8',
  mos: 'float8',
  dropped: 'int8',
  cause: 'text',
  // Sent as text and cast in the statement: JSON inside an array literal of jsonb is escaped
  // the same way, but one cast per row reads more plainly.
  dialog: 'text',
};

const typeOf = (column: string): string => {
  const type = COLUMN_TYPES[column];
  if (!type) throw new Error(`no type for column ${column}`);
  return type;
};

const UPDATE_KEYED = ['cdr_key', ...CDR_UPDATE_COLUMNS] as const;
const DIALOG_COLUMNS = ['call_id', 'callee_tag', 'dialog'] as const;

function unnest(columns: readonly string[], firstParam: number, types: readonly string[]): string {
  const arrays = columns.map((_, i) => `$${firstParam + i}::${types[i]}[]`);
  return `unnest(${arrays.join(', ')}) AS v(${columns.join(', ')})`;
}

const INSERT_PART =
  `INSERT INTO cdrs (${CDR_INSERT_COLUMNS.join(', ')}) ` +
  `SELECT ${CDR_INSERT_COLUMNS.map((c) => (c === 'dialog' ? 'v.dialog::jsonb' : `v.${c}`)).join(', ')} ` +
  `FROM ${unnest(CDR_INSERT_COLUMNS, 1, CDR_INSERT_COLUMNS.map(typeOf))} ` +
  'ON CONFLICT (cdr_key) DO NOTHING';

const UPDATE_PART =
  `UPDATE cdrs SET ${CDR_UPDATE_COLUMNS.map((c) => `${c} = v.${c}`).join(', ')}, ` +
  'dialog = CASE WHEN v."end" IS NULL THEN cdrs.dialog ELSE NULL END ' +
  `FROM ${unnest(UPDATE_KEYED, CDR_INSERT_COLUMNS.length + 1, UPDATE_KEYED.map(typeOf))} ` +
  `WHERE cdrs.cdr_key = v.cdr_key`;

const DIALOG_PART =
  'UPDATE cdrs SET dialog = v.dialog::jsonb ' +
  `FROM ${unnest(DIALOG_COLUMNS, CDR_INSERT_COLUMNS.length + UPDATE_KEYED.length + 1, ['text', 'text', 'text'])} ` +
  `WHERE cdrs.call_id = v.call_id ` +
  `AND cdrs."end" IS NULL AND cdrs.dialog IS NOT NULL ` +
  `AND cdrs.dialog->>'calleeTag' = v.callee_tag`;

/** The batch statement; its parameters are batchValues(). */
export const BATCH_SQL = `WITH ins AS (${INSERT_PART}), upd AS (${UPDATE_PART}), dlg AS (${DIALOG_PART}) SELECT 1`;

type SqlValue = string | number | null;

/** The parameters of BATCH_SQL for these writes: one array per column of each part. */
export function batchValues(entries: readonly SpoolEntry[]): SqlValue[][] {
  const inserts: SqlValue[][] = CDR_INSERT_COLUMNS.map(() => []);
  const updates: SqlValue[][] = UPDATE_KEYED.map(() => []);
  const dialogs: SqlValue[][] = DIALOG_COLUMNS.map(() => []);
  const add = (columns: SqlValue[][], row: SqlValue[]) => {
    for (let i = 0; i < columns.length; i++) columns[i]!.push(row[i] ?? null);
  };
  for (const e of entries) {
    switch (e.op) {
      case 'add':
        add(inserts, cdrInsertValues(e.key, e.node, e.cdr, e.dialog));
        break;
      case 'update':
        add(updates, [e.key, ...cdrUpdateValues(e.cdr)]);
        break;
      case 'dialog':
        add(dialogs, [e.dialog.callId, e.dialog.calleeTag, JSON.stringify(e.dialog)]);
        break;
    }
  }
  return [...inserts, ...updates, ...dialogs];
}

/**
 * How many items from the front of `items` make one batch: at most `max`, stopping before the
 * first item without an entry (an unreadable spool line) or whose Call-ID or CDR key is already
 * in the batch, so the batch keeps the order of the list and never holds two writes of one row.
 * Always at least 1 when the list is not empty.
 */
export function batchLength<T>(
  items: readonly T[],
  entryOf: (item: T) => SpoolEntry | undefined,
  max = MAX_BATCH,
): number {
  const seen = new Set<string>();
  let n = 0;
  for (; n < items.length && n < max; n++) {
    const entry = entryOf(items[n]!);
    if (!entry) return Math.max(n, 1);
    const callId = entry.op === 'dialog' ? entry.dialog.callId : entry.cdr.callId;
    const key = entry.op === 'dialog' ? undefined : entry.key;
    // Call-IDs and keys share one set: prefixed so a Call-ID never matches a key.
    if (seen.has(`c:${callId}`) || (key !== undefined && seen.has(`k:${key}`)))
      return Math.max(n, 1);
    seen.add(`c:${callId}`);
    if (key !== undefined) seen.add(`k:${key}`);
  }
  return n;
}
