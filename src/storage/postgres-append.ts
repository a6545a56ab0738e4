/**
 * One group-commit batch of appends as SQL: usually a single statement, so one round trip and
 * atomic without BEGIN/COMMIT.
 *
 *   WITH bumped AS (
 *     INSERT INTO quire_docs AS d (name, seq, log_updates, log_bytes) VALUES ($1, 3, 3, 120), ($5, 1, 1, 40)
 *     ON CONFLICT (name) DO UPDATE SET seq = d.seq + EXCLUDED.seq, …
 *     RETURNING d.name, d.seq, d.log_updates, d.log_bytes
 *   ), logged AS (
 *     INSERT INTO quire_log (name, seq, update)
 *     SELECT b.name, b.seq - u.back, u.update
 *     FROM (VALUES ($1::text, 2, $2::bytea), ($1, 1, $3), ($1, 0, $4), ($5, 0, $6)) AS u (name, back, update)
 *     JOIN bumped b ON b.name = u.name
 *   )
 *   SELECT name, seq, log_updates, log_bytes FROM bumped
 *
 * The upsert creates the document's row or moves its `seq` up by the number of updates, and
 * returns the new last seq: the database hands out the seqs. The row stays locked until the
 * statement's transaction ends, so writers on other instances queue on it and continue above;
 * a statement that fails assigns nothing. Rows are locked in one order (names sorted), so two
 * batches touching the same documents wait for each other instead of deadlocking.
 *
 * Updates go as binary parameters (pg sends Buffers unconverted); numbers we computed go inline.
 * A batch needing more parameters than a statement may carry (65535) is split into several
 * statements run in one transaction.
 */
import type { Tables } from './postgres-schema.js'

/** One append waiting in a batch; `seq` and the log counters are filled in once it commits. */
export interface PendingAppend {
  name: string
  update: Uint8Array
  seq: number
  /** The document's log after the statement that stored this update. */
  logUpdates: number
  logBytes: number
}

export interface AppendStatement {
  text: string
  values: unknown[]
  /** Applies the statement's result rows to its appends. */
  settle(rows: BumpedRow[]): void
}

export interface BumpedRow {
  name: string
  seq: number
  log_updates: number
  log_bytes: number
}

/** Parameters per statement; the protocol's limit is 65535. */
export const MAX_PARAMETERS = 60_000

/** The statements that store `appends`, in the order they must run. */
export function appendStatements(tables: Tables, appends: readonly PendingAppend[], maxParameters = MAX_PARAMETERS): AppendStatement[] {
  const byName = new Map<string, PendingAppend[]>()
  for (const append of appends) {
    const list = byName.get(append.name)
    if (list) list.push(append)
    else byName.set(append.name, [append])
  }
  // The same order on every instance (any fixed order will do): see the deadlock note above.
  const names = [...byName.keys()].sort()
  const statements: AppendStatement[] = []
  let chunk: Array<[string, PendingAppend[]]> = []
  let parameters = 0
  for (const name of names) {
    let rest = byName.get(name)!
    while (rest.length > 0) {
      // One parameter for the name, one per update; a document may continue in the next chunk.
      const room = maxParameters - parameters - 1
      if (room < 1) {
        statements.push(statement(tables, chunk))
        chunk = []
        parameters = 0
        continue
      }
      const part = rest.slice(0, room)
      rest = rest.slice(room)
      chunk.push([name, part])
      parameters += 1 + part.length
    }
  }
  if (chunk.length > 0) statements.push(statement(tables, chunk))
  return statements
}

function statement(tables: Tables, docs: Array<[string, PendingAppend[]]>): AppendStatement {
  const values: unknown[] = []
  const param = (value: unknown) => {
    values.push(value)
    return `$${values.length}`
  }
  const docRows: string[] = []
  const logRows: string[] = []
  for (const [name, appends] of docs) {
    const nameParam = param(name)
    const bytes = appends.reduce((sum, a) => sum + a.update.byteLength, 0)
    docRows.push(`(${nameParam}, ${appends.length}, ${appends.length}, ${bytes})`)
    appends.forEach((append, i) => {
      const back = appends.length - 1 - i
      logRows.push(logRows.length === 0 ? `(${nameParam}::text, ${back}, ${param(append.update)}::bytea)` : `(${nameParam}, ${back}, ${param(append.update)})`)
    })
  }
  const text = `
    WITH bumped AS (
      INSERT INTO ${tables.docs} AS d (name, seq, log_updates, log_bytes) VALUES ${docRows.join(', ')}
      ON CONFLICT (name) DO UPDATE SET
        seq = d.seq + EXCLUDED.seq,
        log_updates = d.log_updates + EXCLUDED.log_updates,
        log_bytes = d.log_bytes + EXCLUDED.log_bytes,
        updated_at = EXCLUDED.updated_at
      RETURNING d.name, d.seq, d.log_updates, d.log_bytes
    ), logged AS (
      INSERT INTO ${tables.log} (name, seq, update)
      SELECT b.name, b.seq - u.back, u.update
      FROM (VALUES ${logRows.join(', ')}) AS u (name, back, update)
      JOIN bumped b ON b.name = u.name
    )
    SELECT name, seq, log_updates, log_bytes FROM bumped`
  const settle = (rows: BumpedRow[]) => {
    const byName = new Map(rows.map((row) => [row.name, row]))
    for (const [name, appends] of docs) {
      const row = byName.get(name)
      if (!row) throw new Error(`append batch: no sequence number returned for ${JSON.stringify(name)}`)
      appends.forEach((append, i) => {
        append.seq = row.seq - (appends.length - 1 - i)
        append.logUpdates = row.log_updates
        append.logBytes = row.log_bytes
      })
    }
  }
  return { text, values, settle }
}
