/**
 * The change-event outbox (event-outbox.ts) in PostgreSQL, shared by every instance on the
 * database (tables: postgres-schema.ts, migration 2).
 *
 * - **Watermarks** are read and moved in one transaction that first locks the document's row
 *   (INSERT … ON CONFLICT DO UPDATE: it waits for another instance's transaction on the row,
 *   then returns the committed seq), so a change event covers exactly watermark+1 .. toSeq and
 *   two instances reporting the same document one after the other never overlap nor leave a gap.
 * - **Delivery** is claimed: `claim` takes due records with FOR UPDATE SKIP LOCKED and a lease
 *   (`claimed_until`, database time); other instances skip them until the lease runs out, so a
 *   record is attempted by one instance at a time, and by another one if its claimer died.
 *   Failed attempts and burials only apply while the claim is still this outbox's.
 * - **Start and scans**: the first instance to insert quire_event_state's row baselines the
 *   watermarks in the same transaction; scans take turns through the row's `scanned_at`.
 */
import { randomUUID } from 'node:crypto'
import type { ComposeChange, EventOutbox, NewEvent, OutboxRecord, SinksOf, Unreported } from './event-outbox.js'
import type { PostgresDatabase, Query } from './postgres-db.js'
import type { Tables } from './postgres-schema.js'
import { epochMs } from './postgres-versions.js'

/** Documents per reporting transaction: bounds how many rows one transaction keeps locked. */
const CHUNK = 100
const ms = (param: string) => `${param}::float8 * interval '1 millisecond'`

interface RecordRow {
  sink: string
  key: number
  event_id: string
  body: string
  created_at: number
  attempts: number
  due_at: number
  last_error: string | null
}

const recordColumns = (prefix = '') =>
  `${prefix}sink, ${prefix}key, ${prefix}event_id, ${prefix}body, ${epochMs(`${prefix}created_at`)} AS created_at, ${prefix}attempts, ${epochMs(`${prefix}due_at`)} AS due_at, ${prefix}last_error`

const recordOf = (row: RecordRow): OutboxRecord => ({
  key: row.key,
  sink: row.sink,
  body: row.body,
  eventId: row.event_id,
  createdAt: row.created_at,
  attempts: row.attempts,
  dueAt: row.due_at,
  ...(row.last_error !== null && { lastError: row.last_error }),
})

export class PostgresEventOutbox implements EventOutbox {
  readonly shared = true
  /** Names this outbox's claims: another instance's late answer cannot touch them. */
  private readonly claimer = randomUUID()

  constructor(
    private readonly db: PostgresDatabase,
    private readonly t: Tables,
  ) {}

  baseline(): Promise<number | null> {
    return this.db.transaction(async (query) => {
      // An insert racing another instance's waits for its transaction, then conflicts: exactly
      // one instance baselines, and the others see its watermarks once it has committed.
      const { rowCount } = await query(`INSERT INTO ${this.t.eventState} (id) VALUES (1) ON CONFLICT (id) DO NOTHING`)
      if (!rowCount) return null
      const marked = await query(`INSERT INTO ${this.t.eventWatermarks} (name, seq) SELECT name, seq FROM ${this.t.docs} ON CONFLICT (name) DO NOTHING`)
      return marked.rowCount ?? 0
    })
  }

  async reportChanges(changes: ReadonlyArray<{ name: string; toSeq: number }>, compose: ComposeChange, sinksOf: SinksOf): Promise<number> {
    const latest = new Map<string, number>()
    for (const { name, toSeq } of changes) if (toSeq > 0) latest.set(name, Math.max(toSeq, latest.get(name) ?? 0))
    const names = [...latest.keys()]
    let made = 0
    for (let i = 0; i < names.length; i += CHUNK) {
      made += await this.db.transaction((query) => this.reportChunk(query, names.slice(i, i + CHUNK), latest, compose, sinksOf))
    }
    return made
  }

  private async reportChunk(query: Query, names: string[], latest: Map<string, number>, compose: ComposeChange, sinksOf: SinksOf): Promise<number> {
    // Locks every watermark row, in name order on every instance (no deadlocks), creating the
    // missing ones at 0 ("none yet"); the no-op update returns the committed seq.
    const { rows: locked } = await query<{ name: string; seq: number }>(
      `INSERT INTO ${this.t.eventWatermarks} AS w (name, seq) SELECT n, 0 FROM unnest($1::text[]) AS n ORDER BY n COLLATE "C"
       ON CONFLICT (name) DO UPDATE SET seq = w.seq RETURNING name, seq`,
      [names],
    )
    // Read after the locks, so a delete whose event was written meanwhile is seen: a document
    // deleted since its updates were stored gets no event (its document.deleted covers them).
    const { rows: docs } = await query<{ name: string; seq: number }>(`SELECT name, seq FROM ${this.t.docs} WHERE name = ANY($1::text[])`, [names])
    const stored = new Map(docs.map((d) => [d.name, d.seq]))
    const moved: Array<[string, number]> = []
    const events: NewEvent[] = []
    for (const { name, seq: mark } of locked) {
      const toSeq = Math.min(latest.get(name)!, stored.get(name) ?? 0)
      if (toSeq <= mark) continue
      moved.push([name, toSeq])
      events.push(compose({ name, created: mark === 0, fromSeq: mark + 1, toSeq }))
    }
    const records = this.records(events, sinksOf)
    // Rows made at 0 for a document that got no event (deleted meanwhile) go again.
    const reported = new Set(moved.map(([name]) => name))
    await query(
      `WITH moved AS (
         UPDATE ${this.t.eventWatermarks} w SET seq = m.seq FROM unnest($1::text[], $2::bigint[]) AS m (name, seq) WHERE w.name = m.name
       ), unused AS (
         DELETE FROM ${this.t.eventWatermarks} WHERE name = ANY($3::text[]) AND seq = 0
       )
       INSERT INTO ${this.t.eventOutbox} (sink, event_id, body) SELECT * FROM unnest($4::text[], $5::text[], $6::text[])`,
      [moved.map(([name]) => name), moved.map(([, seq]) => seq), locked.filter((l) => l.seq === 0 && !reported.has(l.name)).map((l) => l.name), ...records],
    )
    return events.length
  }

  enqueue(events: readonly NewEvent[], sinksOf: SinksOf): Promise<void> {
    return this.db.transaction(async (query) => {
      const kept: NewEvent[] = []
      for (const event of events) {
        const mark = event.watermark
        if (mark && mark.seq !== null) {
          await query(`INSERT INTO ${this.t.eventWatermarks} (name, seq) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET seq = EXCLUDED.seq`, [mark.name, mark.seq])
        } else if (mark) {
          const orphaned = event.ifOrphaned ? ` AND NOT EXISTS (SELECT 1 FROM ${this.t.docs} d WHERE d.name = $1)` : ''
          const { rowCount } = await query(`DELETE FROM ${this.t.eventWatermarks} WHERE name = $1${orphaned}`, [mark.name])
          if (event.ifOrphaned && !rowCount) continue // reported already, or the document is back
        }
        kept.push(event)
      }
      const [sinks, ids, bodies] = this.records(kept, sinksOf)
      if (sinks.length > 0) await query(`INSERT INTO ${this.t.eventOutbox} (sink, event_id, body) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])`, [sinks, ids, bodies])
    })
  }

  async unreported(quietMs: number): Promise<Unreported> {
    const { rows: changed } = await this.db.query<{ name: string; seq: number }>(
      `SELECT d.name, d.seq FROM ${this.t.docs} d LEFT JOIN ${this.t.eventWatermarks} w ON w.name = d.name
        WHERE d.seq > coalesce(w.seq, 0) AND d.updated_at <= now() - ${ms('$1')} ORDER BY d.name`,
      [quietMs],
    )
    const { rows: orphaned } = await this.db.query<{ name: string }>(
      `SELECT name FROM ${this.t.eventWatermarks} w WHERE NOT EXISTS (SELECT 1 FROM ${this.t.docs} d WHERE d.name = w.name) ORDER BY name`,
    )
    return { changed, orphaned: orphaned.map((o) => o.name) }
  }

  async scanTurn(everyMs: number): Promise<boolean> {
    const { rowCount } = await this.db.query(`UPDATE ${this.t.eventState} SET scanned_at = now() WHERE id = 1 AND scanned_at <= now() - ${ms('$1')}`, [everyMs / 2])
    return (rowCount ?? 0) > 0
  }

  async claim(sink: string, limit: number, leaseMs: number): Promise<OutboxRecord[]> {
    const { rows } = await this.db.query<RecordRow>(
      `WITH due AS (
         SELECT sink, key FROM ${this.t.eventOutbox}
          WHERE sink = $1 AND due_at <= now() AND (claimed_until IS NULL OR claimed_until <= now())
          ORDER BY key LIMIT $2 FOR UPDATE SKIP LOCKED
       )
       UPDATE ${this.t.eventOutbox} o SET claimed_by = $3, claimed_until = now() + ${ms('$4')}
         FROM due WHERE o.sink = due.sink AND o.key = due.key
       RETURNING ${recordColumns('o.')}`,
      [sink, limit, this.claimer, leaseMs],
    )
    return rows.map(recordOf).sort((a, b) => a.key - b.key)
  }

  async release(records: readonly OutboxRecord[]): Promise<void> {
    if (records.length === 0) return
    await this.db.query(
      `UPDATE ${this.t.eventOutbox} SET claimed_by = NULL, claimed_until = NULL
        WHERE claimed_by = $1 AND (sink, key) IN (SELECT * FROM unnest($2::text[], $3::bigint[]))`,
      [this.claimer, records.map((r) => r.sink), records.map((r) => r.key)],
    )
  }

  async delivered(record: OutboxRecord): Promise<void> {
    // Whoever holds the claim now: the sink has the event, nobody needs to send it again.
    await this.db.query(`DELETE FROM ${this.t.eventOutbox} WHERE sink = $1 AND key = $2`, [record.sink, record.key])
  }

  async retryLater(record: OutboxRecord): Promise<void> {
    // The delay rather than the time: due_at is in the database's clock, like the leases.
    await this.db.query(
      `UPDATE ${this.t.eventOutbox} SET attempts = $3, last_error = $4, due_at = now() + ${ms('$5')}, claimed_by = NULL, claimed_until = NULL
        WHERE sink = $1 AND key = $2 AND claimed_by = $6`,
      [record.sink, record.key, record.attempts, record.lastError ?? null, Math.max(0, record.dueAt - Date.now()), this.claimer],
    )
  }

  async bury(record: OutboxRecord): Promise<void> {
    await this.db.query(
      `WITH gone AS (
         DELETE FROM ${this.t.eventOutbox} WHERE sink = $1 AND key = $2 AND claimed_by = $3 RETURNING sink, key, event_id, body, created_at
       )
       INSERT INTO ${this.t.eventDead} (sink, key, event_id, body, created_at, attempts, last_error)
       SELECT sink, key, event_id, body, created_at, $4, $5 FROM gone`,
      [record.sink, record.key, this.claimer, record.attempts, record.lastError ?? null],
    )
  }

  async deadLetters(sink: string | undefined, limit: number): Promise<OutboxRecord[]> {
    const { rows } = await this.db.query<RecordRow>(
      `SELECT sink, key, event_id, body, ${epochMs('created_at')} AS created_at, attempts, ${epochMs('now()')} AS due_at, last_error
         FROM ${this.t.eventDead} WHERE $1::text IS NULL OR sink = $1 ORDER BY sink, key LIMIT $2`,
      [sink ?? null, limit],
    )
    return rows.map(recordOf)
  }

  async resurrect(sink: string, key: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `WITH back AS (DELETE FROM ${this.t.eventDead} WHERE sink = $1 AND key = $2 RETURNING *)
       INSERT INTO ${this.t.eventOutbox} (sink, key, event_id, body, created_at, last_error)
       SELECT sink, key, event_id, body, created_at, last_error FROM back`,
      [sink, key],
    )
    return (rowCount ?? 0) > 0
  }

  async depth(): Promise<{ records: number; oldestCreatedAt: number | null }> {
    const { rows } = await this.db.query<{ records: number; oldest: number | null }>(
      `SELECT count(*) AS records, ${epochMs('min(created_at)')} AS oldest FROM ${this.t.eventOutbox}`,
    )
    return { records: rows[0]?.records ?? 0, oldestCreatedAt: rows[0]?.oldest ?? null }
  }

  /** One row per event and sink, as three parallel arrays (sink, event id, body) for unnest. */
  private records(events: readonly NewEvent[], sinksOf: SinksOf): [string[], string[], string[]] {
    const columns: [string[], string[], string[]] = [[], [], []]
    for (const event of events) {
      if (event.eventId === undefined || event.body === undefined) continue
      for (const sink of sinksOf(event)) {
        columns[0].push(sink)
        columns[1].push(event.eventId)
        columns[2].push(event.body)
      }
    }
    return columns
  }
}
