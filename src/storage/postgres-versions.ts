/**
 * Named versions of documents in PostgreSQL (quire_versions). Ids come from the document's own
 * row (`quire_docs.last_version`), moved up in the statement that stores the version: the row
 * lock makes concurrent creators on any instance take 1, 2, 3… in turn, and the counter goes
 * only when the document goes (delete removes the row and every version with it), so an id is
 * never reused while the document exists. A document that is not stored has no row, so a version
 * of it is refused in the same statement.
 */
import type { StoredVersion, VersionInfo, VersionStore } from './doc-store.js'
import type { PostgresDatabase } from './postgres-db.js'
import type { Tables } from './postgres-schema.js'

/** Milliseconds since the epoch, as a JS number. */
export const epochMs = (column: string) => `floor(extract(epoch FROM ${column}) * 1000)::float8`

interface VersionRow {
  id: number
  label: string
  created_at: number
  bytes: number
}

const infoOf = (row: VersionRow): VersionInfo => ({ id: row.id, label: row.label, createdAt: row.created_at, bytes: row.bytes })

/** A copy in a buffer of its own: pg's may be a slice of a shared pool, and tests compare types. */
export const bytesOf = (buffer: Uint8Array): Uint8Array => new Uint8Array(buffer)

export class PostgresVersions implements VersionStore {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly t: Tables,
  ) {}

  async create(name: string, label: string, state: Uint8Array): Promise<VersionInfo | null> {
    const { rows } = await this.db.query<VersionRow>(
      `WITH doc AS (
         UPDATE ${this.t.docs} SET last_version = last_version + 1 WHERE name = $1 RETURNING name, last_version
       )
       INSERT INTO ${this.t.versions} (name, id, label, bytes, state)
       SELECT name, last_version, $2, $3, $4 FROM doc
       RETURNING id, label, ${epochMs('created_at')} AS created_at, bytes`,
      [name, label, state.byteLength, state],
    )
    return rows[0] ? infoOf(rows[0]) : null
  }

  async list(name: string): Promise<VersionInfo[]> {
    const { rows } = await this.db.query<VersionRow>(
      `SELECT id, label, ${epochMs('created_at')} AS created_at, bytes FROM ${this.t.versions} WHERE name = $1 ORDER BY id`,
      [name],
    )
    return rows.map(infoOf)
  }

  async read(name: string, id: number): Promise<StoredVersion | null> {
    if (!Number.isSafeInteger(id) || id < 1) return null
    const { rows } = await this.db.query<VersionRow & { state: Uint8Array }>(
      `SELECT id, label, ${epochMs('created_at')} AS created_at, bytes, state FROM ${this.t.versions} WHERE name = $1 AND id = $2`,
      [name, id],
    )
    const row = rows[0]
    return row ? { info: infoOf(row), state: bytesOf(row.state) } : null
  }
}
