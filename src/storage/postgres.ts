/**
 * A DocStore on PostgreSQL, for several Quire instances sharing one database (tables:
 * postgres-schema.ts). It keeps no document state in memory: every answer comes from the
 * database, so what one instance wrote, the others read.
 *
 * Sequence numbers are assigned by the database, in the statement that stores the updates
 * (postgres-append.ts): per document, contiguous, never colliding between instances, and a failed
 * write assigns none (there are no holes). Appends are group-committed: those of one event-loop
 * turn, across documents, are one statement.
 *
 * Compaction is safe with several writers (postgres-compaction.ts): under a per-document advisory
 * lock it merges the stored base with the stored log up to the snapshot's seq and replaces exactly
 * those rows. A room's snapshot only says how far to go: it may lack updates other instances
 * appended in between, so its state is never written in place of theirs.
 */
import { GroupCommit } from './group-commit.js'
import { PostgresDatabase, type PostgresConnectionOptions } from './postgres-db.js'
import { appendStatements, MAX_PARAMETERS, type BumpedRow, type PendingAppend } from './postgres-append.js'
import { compactDocument, lockDocument } from './postgres-compaction.js'
import { migrate, tablesIn, type Tables } from './postgres-schema.js'
import { PostgresVersions, bytesOf, epochMs } from './postgres-versions.js'
import { PostgresEventOutbox } from './postgres-outbox.js'
import type { AppendResult, DocInfo, DocStore, ListOptions, LoadedDoc, LogEntry, Snapshot } from './doc-store.js'

export interface PostgresStoreOptions extends PostgresConnectionOptions {
  /** Schema holding Quire's tables, created if missing (default `public`). */
  schema?: string
  /** Compaction is due once a document's log holds this many updates… */
  compactAfterUpdates?: number
  /** …or this many bytes. */
  compactAfterBytes?: number
  /** Parameters per append statement; larger batches are split (tests lower it). */
  maxParametersPerStatement?: number
}

interface DocRow {
  name: string
  seq: number
  bytes: number
  log_updates: number
  created_at: number
  updated_at: number
}

const DOC_COLUMNS = `name, seq, base_bytes + log_bytes AS bytes, log_updates, ${epochMs('created_at')} AS created_at, ${epochMs('updated_at')} AS updated_at`

const infoOf = (row: DocRow): DocInfo => ({
  name: row.name,
  seq: row.seq,
  bytes: row.bytes,
  logUpdates: row.log_updates,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
})

/**
 * The smallest string above every string that starts with `prefix`, in code point order (which
 * is UTF-8 byte order, the order of COLLATE "C"); null if there is none.
 */
export function prefixEnd(prefix: string): string | null {
  const points = [...prefix].map((c) => c.codePointAt(0)!)
  while (points.length > 0) {
    let last = points.pop()! + 1
    if (last === 0xd800) last = 0xe000 // surrogates are not characters
    if (last <= 0x10ffff) return String.fromCodePoint(...points, last)
  }
  return null
}

export class PostgresDocStore implements DocStore {
  readonly versions: PostgresVersions
  /** Change-event bookkeeping, shared by the instances on this database (postgres-outbox.ts). */
  readonly events: PostgresEventOutbox
  private readonly t: Tables
  private readonly writer: GroupCommit<PendingAppend>
  private readonly compactions = new Map<string, Promise<void>>()
  /** Deletes in progress on this instance; appends to the same document wait for them. */
  private readonly deletions = new Map<string, Promise<void>>()
  private readonly compactAfterUpdates: number
  private readonly compactAfterBytes: number

  private constructor(
    private readonly db: PostgresDatabase,
    schema: string,
    options: PostgresStoreOptions,
  ) {
    this.t = tablesIn(schema)
    this.compactAfterUpdates = options.compactAfterUpdates ?? 1000
    this.compactAfterBytes = options.compactAfterBytes ?? 1024 * 1024
    const maxParameters = options.maxParametersPerStatement ?? MAX_PARAMETERS
    this.writer = new GroupCommit<PendingAppend>((appends) => this.commit(appends, maxParameters))
    this.versions = new PostgresVersions(db, this.t)
    this.events = new PostgresEventOutbox(db, this.t)
  }

  /** Connects, creates or migrates the schema, and returns the store. Fails if the database cannot be reached. */
  static async open(options: PostgresStoreOptions): Promise<PostgresDocStore> {
    const schema = options.schema ?? 'public'
    const db = new PostgresDatabase(options)
    try {
      await migrate(db, schema)
    } catch (error) {
      await db.close().catch(() => {}) // the migration's error is the one to report
      throw error
    }
    db.markStarted()
    return new PostgresDocStore(db, schema, options)
  }

  async load(name: string): Promise<LoadedDoc> {
    // Appends this instance made before the call are included (read-your-writes, as in LevelDB).
    await this.settled()
    // One statement reads one snapshot: the base and the log after it always match.
    const { rows } = await this.db.query<{ part: number; seq: number; data: Uint8Array | null }>(
      `SELECT 0 AS part, d.seq, b.state AS data
         FROM ${this.t.docs} d LEFT JOIN ${this.t.bases} b ON b.name = d.name WHERE d.name = $1
       UNION ALL
       SELECT 1, l.seq, l.update
         FROM ${this.t.docs} d JOIN ${this.t.log} l ON l.name = d.name AND l.seq > d.base_seq WHERE d.name = $1
       ORDER BY part, seq`,
      [name],
    )
    const head = rows[0]
    if (!head || head.part !== 0) return { updates: [], seq: 0 }
    const updates: Uint8Array[] = []
    for (const row of rows) if (row.data) updates.push(bytesOf(row.data))
    return { updates, seq: head.seq }
  }

  append(name: string, update: Uint8Array): Promise<AppendResult> {
    // An append made while this instance deletes the document waits, then starts the new
    // document; those made before the delete are part of what it deletes.
    const deleting = this.deletions.get(name)
    return deleting ? deleting.then(() => this.appendNow(name, update)) : this.appendNow(name, update)
  }

  private async appendNow(name: string, update: Uint8Array): Promise<AppendResult> {
    const pending: PendingAppend = { name, update, seq: 0, logUpdates: 0, logBytes: 0 }
    await this.writer.add([pending])
    return {
      seq: pending.seq,
      compactionDue: pending.logUpdates >= this.compactAfterUpdates || pending.logBytes >= this.compactAfterBytes,
    }
  }

  async readSince(name: string, seq: number): Promise<LogEntry[] | null> {
    await this.settled()
    const { rows } = await this.db.query<{ last: number; base_seq: number; seq: number | null; update: Uint8Array | null }>(
      `SELECT d.seq AS last, d.base_seq, l.seq, l.update
         FROM ${this.t.docs} d LEFT JOIN ${this.t.log} l ON l.name = d.name AND l.seq > $2
        WHERE d.name = $1
        ORDER BY l.seq`,
      [name, seq],
    )
    const last = rows[0]?.last ?? 0
    if (seq < (rows[0]?.base_seq ?? 0)) return null // compaction folded some of it away
    // Only a run without gaps reaching the last seq is an answer (entries may follow it).
    const entries: LogEntry[] = []
    let next = seq + 1
    for (const row of rows) {
      if (row.seq === null || row.update === null) continue
      if (row.seq !== next) return null
      entries.push({ seq: next++, update: bytesOf(row.update) })
    }
    return next > last ? entries : null
  }

  compact(name: string, snapshot?: Snapshot): Promise<void> {
    // One compaction per document at a time on this instance (the advisory lock serialises
    // instances); waiting here rather than on the lock keeps pool connections free.
    const previous = this.compactions.get(name) ?? Promise.resolve()
    const next = previous.then(() => compactDocument(this.db, this.t, name, snapshot?.seq))
    const settled = next.catch(() => {})
    this.compactions.set(name, settled)
    void settled.then(() => {
      if (this.compactions.get(name) === settled) this.compactions.delete(name)
    })
    return next
  }

  async info(name: string): Promise<DocInfo | null> {
    await this.settled()
    const { rows } = await this.db.query<DocRow>(`SELECT ${DOC_COLUMNS} FROM ${this.t.docs} WHERE name = $1`, [name])
    return rows[0] ? infoOf(rows[0]) : null
  }

  async list({ prefix = '', after, limit }: ListOptions): Promise<DocInfo[]> {
    await this.settled()
    // A range on the primary key: [prefix, end of prefix), after the previous page's last name.
    const values: unknown[] = [prefix]
    let where = 'name >= $1'
    const end = prefixEnd(prefix)
    if (end !== null) where += ` AND name < $${values.push(end)}`
    if (after !== undefined && after.startsWith(prefix)) where += ` AND name > $${values.push(after)}`
    const { rows } = await this.db.query<DocRow>(
      `SELECT ${DOC_COLUMNS} FROM ${this.t.docs} WHERE ${where} ORDER BY name LIMIT $${values.push(Math.max(0, limit))}`,
      values,
    )
    return rows.map(infoOf)
  }

  delete(name: string): Promise<boolean> {
    const deleting = (this.deletions.get(name) ?? Promise.resolve()).then(() => this.deleteNow(name))
    const gate = deleting.then(
      () => {},
      () => {},
    )
    this.deletions.set(name, gate)
    void gate.then(() => this.deletions.get(name) === gate && this.deletions.delete(name))
    return deleting
  }

  private async deleteNow(name: string): Promise<boolean> {
    // Appends made before the delete are queued in the writer (appends after it wait above): let
    // them commit, and this instance's compactions finish, then delete what they wrote.
    await this.compactions.get(name)
    await this.settled()
    return this.db.transaction(async (query) => {
      await lockDocument(query, name)
      // Locking the row first makes writers elsewhere wait, and the statement after it (a new
      // snapshot) then sees every log row they committed before: none is left behind.
      const { rows } = await query<{ seq: number }>(`SELECT seq FROM ${this.t.docs} WHERE name = $1 FOR UPDATE`, [name])
      await query(
        `WITH log AS (DELETE FROM ${this.t.log} WHERE name = $1),
              base AS (DELETE FROM ${this.t.bases} WHERE name = $1),
              versions AS (DELETE FROM ${this.t.versions} WHERE name = $1)
         DELETE FROM ${this.t.docs} WHERE name = $1`,
        [name],
      )
      return (rows[0]?.seq ?? 0) > 0
    })
  }

  release(): void {
    // Nothing is cached: every read goes to the database, where other instances write too.
  }

  isOpen(): boolean {
    return this.db.isOpen()
  }

  async close(): Promise<void> {
    await this.writer.barrier().catch(() => {})
    await Promise.all(this.compactions.values())
    await this.db.close()
  }

  /** Writes one batch: a single statement, or several in one transaction when it is very large. */
  private async commit(appends: PendingAppend[], maxParameters: number): Promise<void> {
    const statements = appendStatements(this.t, appends, maxParameters)
    if (statements.length === 1) {
      const [statement] = statements as [(typeof statements)[0]]
      statement.settle((await this.db.query<BumpedRow>(statement.text, statement.values)).rows)
      return
    }
    await this.db.transaction(async (query) => {
      for (const statement of statements) statement.settle((await query<BumpedRow>(statement.text, statement.values)).rows)
    })
  }

  /** Waits until this instance's appends queued so far are settled; their failure is reported to them. */
  private settled(): Promise<void> {
    return this.writer.barrier().catch(() => {})
  }
}
