/**
 * Compaction of one document in PostgreSQL, safe with several writers.
 *
 * A room's snapshot may lack updates other instances appended between its own, so its state is
 * never written in place of the log. Instead, under the document's advisory lock, the stored base
 * and the stored log rows up to the snapshot's seq are merged in a Y.Doc, written as the new base,
 * and exactly those rows deleted, in one transaction: the new base contains every row it
 * replaces, whichever instance wrote it. Rows above that seq, and rows appended meanwhile (they
 * get higher seqs), stay in the log. Appends need only the document's row, which compaction
 * locks last, for a relative update of the log counters.
 */
import * as Y from 'yjs'
import { docFromUpdates } from '../content/update.js'
import type { PostgresDatabase, Query } from './postgres-db.js'
import { DOC_LOCK_CLASS, type Tables } from './postgres-schema.js'

/** Serialises compactions and deletes of one document across instances, until the transaction ends. */
export async function lockDocument(query: Query, name: string): Promise<void> {
  await query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [DOC_LOCK_CLASS, name])
}

/** Folds the log of `name` up to `upTo` (default: all of it) into its base. */
export async function compactDocument(db: PostgresDatabase, t: Tables, name: string, upTo: number | undefined): Promise<void> {
  // Without the lock first: nothing to fold (an unload right after a compaction, a room that only
  // read) costs one small query and no base transfer. A stale answer can only skip, which is safe.
  const { rows: [doc] } = await db.query<{ seq: number; base_seq: number }>(`SELECT seq, base_seq FROM ${t.docs} WHERE name = $1`, [name])
  if (!doc || Math.min(doc.seq, upTo ?? doc.seq) <= doc.base_seq) return
  await db.transaction(async (query) => {
    await lockDocument(query, name)
    // After the lock, so this snapshot sees whatever the previous holder committed. Every seq up
    // to the document's seq is committed (each writer waits for the previous one on the row), so
    // nothing can still arrive below it.
    const { rows } = await query<{ part: number; seq: number; base_seq: number; data: Uint8Array | null }>(
      `SELECT 0 AS part, d.seq, d.base_seq, b.state AS data
         FROM ${t.docs} d LEFT JOIN ${t.bases} b ON b.name = d.name WHERE d.name = $1
       UNION ALL
       SELECT 1, l.seq, 0, l.update
         FROM ${t.docs} d JOIN ${t.log} l ON l.name = d.name
        WHERE d.name = $1 AND l.seq > d.base_seq AND l.seq <= least(d.seq, coalesce($2, d.seq))
       ORDER BY part, seq`,
      [name, upTo ?? null],
    )
    const head = rows[0]
    if (!head || head.part !== 0) return // not stored (never, or deleted meanwhile)
    const top = Math.min(head.seq, upTo ?? head.seq)
    if (top <= head.base_seq) return // nothing new to fold (a stale snapshot changes nothing)
    const state = merge(rows.flatMap((row) => (row.data ? [row.data] : [])))
    await query(
      `WITH base AS (
         INSERT INTO ${t.bases} (name, state) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state
       ), gone AS (
         DELETE FROM ${t.log} WHERE name = $1 AND seq > $3 AND seq <= $4 RETURNING octet_length(update) AS bytes
       )
       UPDATE ${t.docs} SET
         base_seq = $4,
         base_bytes = $5,
         log_updates = log_updates - (SELECT count(*) FROM gone),
         log_bytes = log_bytes - (SELECT coalesce(sum(bytes), 0) FROM gone)
       WHERE name = $1`,
      [name, state, head.base_seq, top, state.byteLength],
    )
  })
}

/** The stored base and log entries merged into one state, garbage-collected like a live document's. */
function merge(updates: Uint8Array[]): Uint8Array {
  const doc = docFromUpdates(updates)
  try {
    return Y.encodeStateAsUpdate(doc)
  } finally {
    doc.destroy()
  }
}
