/**
 * The PostgreSQL store's tables, created and migrated at start-up.
 *
 *   quire_docs       one row per stored document: its counters (the hot row every append updates)
 *   quire_bases      the compacted state of a document, covering seq ≤ quire_docs.base_seq
 *   quire_log        one row per update not yet folded into the base
 *   quire_versions   named versions (full states)
 *   quire_schema_migrations  which of MIGRATIONS have been applied
 *
 * Names are `text COLLATE "C"`: compared and ordered by their UTF-8 bytes, as the DocStore
 * contract lists them, whatever the database's default collation. Migrations run in one
 * transaction under an advisory lock, so instances starting together apply each exactly once, and
 * an instance never starts against a schema newer than it knows.
 */
import pg from 'pg'
import type { PostgresDatabase } from './postgres-db.js'

/** Advisory lock classes (the first key of pg_advisory_xact_lock(int, int)): "QUIR" and one more. */
export const DOC_LOCK_CLASS = 0x51554952
export const SCHEMA_LOCK_CLASS = 0x51554953

/** Schema-qualified, quoted table names. */
export interface Tables {
  docs: string
  bases: string
  log: string
  versions: string
  migrations: string
}

export function tablesIn(schema: string): Tables {
  const s = pg.escapeIdentifier(schema)
  return {
    docs: `${s}.quire_docs`,
    bases: `${s}.quire_bases`,
    log: `${s}.quire_log`,
    versions: `${s}.quire_versions`,
    migrations: `${s}.quire_schema_migrations`,
  }
}

export interface Migration {
  version: number
  description: string
  sql(t: Tables): string
}

/** Append only: a released migration is never edited, a change is a new version. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'documents, bases, log, versions',
    // quire_docs is updated by every append batch: a lower fillfactor leaves room on its pages for
    // the new row versions, so those updates stay HOT (no index writes; only the key is indexed).
    // The base lives in its own table so that these frequent row copies never carry it along.
    sql: (t) => `
      CREATE TABLE ${t.docs} (
        name text COLLATE "C" PRIMARY KEY,
        seq bigint NOT NULL,
        base_seq bigint NOT NULL DEFAULT 0,
        base_bytes bigint NOT NULL DEFAULT 0,
        log_updates bigint NOT NULL DEFAULT 0,
        log_bytes bigint NOT NULL DEFAULT 0,
        last_version bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      ) WITH (fillfactor = 70);
      CREATE TABLE ${t.bases} (
        name text COLLATE "C" PRIMARY KEY,
        state bytea NOT NULL
      );
      CREATE TABLE ${t.log} (
        name text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        update bytea NOT NULL,
        PRIMARY KEY (name, seq)
      );
      CREATE TABLE ${t.versions} (
        name text COLLATE "C" NOT NULL,
        id bigint NOT NULL,
        label text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        bytes bigint NOT NULL,
        state bytea NOT NULL,
        PRIMARY KEY (name, id)
      );
    `,
  },
]

export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version

export class SchemaTooNewError extends Error {
  override name = 'SchemaTooNewError'
  constructor(readonly found: number, readonly supported: number) {
    super(`the database schema is at version ${found}, newer than this Quire supports (${supported}); upgrade Quire`)
  }
}

/** Creates the schema if needed and applies the migrations it lacks. Returns the version now in place. */
export async function migrate(db: PostgresDatabase, schema: string, migrations: readonly Migration[] = MIGRATIONS): Promise<number> {
  const t = tablesIn(schema)
  return db.transaction(async (query) => {
    await query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SCHEMA_LOCK_CLASS, schema])
    // Checked first: CREATE SCHEMA IF NOT EXISTS would need the CREATE privilege even when it exists.
    const { rowCount } = await query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
    if (!rowCount) await query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`)
    // Likewise for the table: a role that can use the tables but not create any may start Quire
    // once they exist.
    const { rows: [found] } = await query<{ table: string | null }>('SELECT to_regclass($1)::text AS table', [t.migrations])
    if (!found?.table) {
      await query(`
        CREATE TABLE ${t.migrations} (
          version integer PRIMARY KEY,
          description text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`)
    }
    const { rows } = await query<{ version: number }>(`SELECT coalesce(max(version), 0) AS version FROM ${t.migrations}`)
    const current = rows[0]!.version
    const latest = migrations.at(-1)?.version ?? 0
    if (current > latest) throw new SchemaTooNewError(current, latest)
    for (const migration of migrations) {
      if (migration.version <= current) continue
      await query(migration.sql(t))
      await query(`INSERT INTO ${t.migrations} (version, description) VALUES ($1, $2)`, [migration.version, migration.description])
    }
    return latest
  })
}
