/**
 * Opening a store named on the command line: a LevelDB data directory or a `postgres://` URL.
 * Offline tools (`quire migrate`) use this; every reason not to go ahead is a StoreRefusal, which
 * the command reports as one line and exit status 2, before anything has been written.
 */
import { existsSync, realpathSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import pg from 'pg'
import { LevelDocStore } from '../storage/leveldb.js'
import { PostgresDocStore } from '../storage/postgres.js'
import { DataDirInUseError, type DocStore } from '../storage/doc-store.js'

export type StoreLocation = { kind: 'leveldb'; dir: string } | { kind: 'postgres'; url: string; schema: string }

/** A store that cannot be used as asked; the message is meant for the person running the command. */
export class StoreRefusal extends Error {
  override name = 'StoreRefusal'
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i

/** Where `spec` (a directory or a URL) points; `schema` only applies to PostgreSQL (default public). */
export function parseLocation(spec: string, schema: string | undefined, option: string): StoreLocation {
  if (POSTGRES_URL.test(spec)) {
    try {
      new URL(spec)
    } catch {
      throw new StoreRefusal(`${option} is not a valid PostgreSQL URL`) // never echo it: it may hold a password
    }
    if (schema !== undefined && schema.trim() === '') throw new StoreRefusal(`${option}-schema must not be empty`)
    return { kind: 'postgres', url: spec, schema: schema ?? 'public' }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) throw new StoreRefusal(`${option}: only LevelDB directories and postgres:// URLs are supported`)
  if (spec === '') throw new StoreRefusal(`${option} must not be empty`)
  if (schema !== undefined) throw new StoreRefusal(`${option}-schema applies only to a postgres:// ${option}`)
  return { kind: 'leveldb', dir: resolve(spec) }
}

/** For messages: the directory, or the URL without its password, plus the schema. */
export function describeLocation(location: StoreLocation): string {
  if (location.kind === 'leveldb') return location.dir
  const url = new URL(location.url)
  if (url.password) url.password = '***'
  return `${url.toString()} (schema ${location.schema})`
}

/** True if both name the same data: one directory (through symlinks), or one database and schema. */
export function sameLocation(a: StoreLocation, b: StoreLocation): boolean {
  if (a.kind === 'leveldb' && b.kind === 'leveldb') return canonicalDir(a.dir) === canonicalDir(b.dir)
  if (a.kind === 'postgres' && b.kind === 'postgres') return a.schema === b.schema && databaseKey(a.url) === databaseKey(b.url)
  return false
}

const canonicalDir = (dir: string) => (existsSync(dir) ? realpathSync(dir) : dir)

/** Host, port and database, with the defaults pg applies; user and password do not change the data. */
function databaseKey(spec: string): string {
  const url = new URL(spec)
  const host = url.hostname.toLowerCase() || 'localhost'
  const database = decodeURIComponent(url.pathname.slice(1)) || decodeURIComponent(url.username) || 'postgres'
  return `${host === '127.0.0.1' || host === '[::1]' ? 'localhost' : host}:${url.port || '5432'}/${database}`
}

/**
 * Opens the store. A source must already hold Quire data: a missing LevelDB directory is never
 * created, and a PostgreSQL schema without Quire's tables is refused rather than set up empty
 * (a mistyped name would otherwise look like a store with no documents).
 */
export async function openStore(location: StoreLocation, role: 'source' | 'target'): Promise<DocStore> {
  const where = describeLocation(location)
  if (location.kind === 'leveldb') {
    if (role === 'source') checkSourceDir(location.dir)
    try {
      return await LevelDocStore.open(location.dir)
    } catch (error) {
      if (error instanceof DataDirInUseError) throw new StoreRefusal(`data dir ${location.dir} is in use by a running server: stop it first`, { cause: error })
      throw new StoreRefusal(`cannot open ${role} ${where}: ${(error as Error).message}`)
    }
  }
  if (role === 'source' && !(await hasQuireTables(location))) {
    throw new StoreRefusal(`source ${where} holds no Quire documents (no quire_docs table)`)
  }
  try {
    // Documents are copied one at a time; a large one may take longer than a server's statement limit.
    return await PostgresDocStore.open({ connectionString: location.url, schema: location.schema, poolSize: 2, statementTimeoutMs: 0 })
  } catch (error) {
    throw new StoreRefusal(`cannot open ${role} ${where}: ${(error as Error).message}`)
  }
}

function checkSourceDir(dir: string): void {
  let isDir: boolean
  try {
    isDir = statSync(dir).isDirectory()
  } catch {
    throw new StoreRefusal(`source data dir ${dir} does not exist`)
  }
  if (!isDir) throw new StoreRefusal(`source data dir ${dir} is not a directory`)
  // Every LevelDB database has a CURRENT file; without one, opening would create an empty database.
  if (!existsSync(join(dir, 'CURRENT'))) throw new StoreRefusal(`source data dir ${dir} holds no Quire data (no LevelDB database)`)
}

async function hasQuireTables(location: { url: string; schema: string }): Promise<boolean> {
  const client = new pg.Client({ connectionString: location.url, connectionTimeoutMillis: 5000 })
  try {
    await client.connect()
    const { rows } = await client.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
      `${pg.escapeIdentifier(location.schema)}.quire_docs`,
    ])
    return rows[0]?.found === true
  } catch (error) {
    throw new StoreRefusal(`cannot open source ${describeLocation({ kind: 'postgres', ...location })}: ${(error as Error).message}`)
  } finally {
    await client.end().catch(() => {})
  }
}
