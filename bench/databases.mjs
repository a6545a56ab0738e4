/**
 * The PostgreSQL database and the Redis key prefix of one bench process, for the targets that
 * store in PostgreSQL (quire-pg) or run as a cluster (quire-cluster).
 *
 * The bench never touches a database or keys it did not make: it creates `quire_bench_<random>`
 * on first use and drops it at the end (cleanupDatabases(), or, if the process exits any other
 * way, a synchronous child process in the exit hook), and every Redis key it causes starts with
 * `quire-bench-<random>:`. Each server start gets its own schema, named after its temporary data
 * dir, so a restart on the same data dir (bigdoc, durability, …) finds its documents again.
 *
 *   BENCH_POSTGRES_URL  an existing database to connect to for CREATE/DROP DATABASE
 *                       (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_REDIS_URL     default redis://127.0.0.1:6379
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { basename } from 'node:path'
import { PROJECT_ROOT } from './targets.mjs'

const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'

const id = randomBytes(4).toString('hex')
const DATABASE = `quire_bench_${id}`
const REDIS_PREFIX = `quire-bench-${id}:`
let clusters = 0

/** A Redis prefix of its own for each cluster the bench starts (so runs never hear each other). */
export const clusterPrefix = () => `${REDIS_PREFIX}${++clusters}:`

/** The database URL, same host and credentials as ADMIN_URL. */
function databaseUrl() {
  const url = new URL(ADMIN_URL)
  url.pathname = `/${DATABASE}`
  return url.href
}

let created = null // Promise<string> once asked for
let exists = false // the database was created and not dropped yet
let pool = null
/** Server versions of the stores the run used, for the report (filled as they are met). */
export const storeVersions = {}

const pg = async () => (await import('pg')).default

/** Creates the bench database on first use; resolves to its URL. */
export function benchDatabaseUrl() {
  created ??= (async () => {
    const { Client } = await pg()
    const admin = new Client({ connectionString: ADMIN_URL })
    try {
      await admin.connect()
      await admin.query(`CREATE DATABASE ${DATABASE}`)
      exists = true
      process.on('exit', dropSynchronously)
      storeVersions.PostgreSQL = (await admin.query('SHOW server_version')).rows[0].server_version
    } catch (error) {
      throw new Error(`quire-pg and quire-cluster need PostgreSQL at ${redact(ADMIN_URL)} (BENCH_POSTGRES_URL), with a role that may create databases: ${error.message}`, { cause: error })
    } finally {
      await admin.end().catch(() => {})
    }
    return databaseUrl()
  })()
  return created
}

const redact = (url) => url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@')

/** The schema a server on this data dir uses (same dir, same schema: restarts find their data). */
export function schemaFor(dataDir) {
  return `bench_${basename(dataDir).replace(/[^A-Za-z0-9]/g, '_')}`
}

async function query(sql, values) {
  if (!pool) {
    const { Pool } = await pg()
    pool = new Pool({ connectionString: await benchDatabaseUrl(), max: 2 })
  }
  return pool.query(sql, values)
}

export async function dropSchema(schema) {
  await query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
}

/**
 * What a schema holds. `bytes` is its tables' size on disk (with indexes and TOAST, and rows
 * deleted but not yet vacuumed: what the data dir is for LevelDB). `storedBytes` and `logRows` are
 * Quire's own counters (bases plus log updates). `fingerprint` changes with every append or
 * compaction (each updates the document's row), so an unchanged one means nothing was written.
 * `lastAppendMs` is the newest append's updated_at (epoch ms; compactions do not set it).
 */
export async function schemaStats(schema) {
  const size = await query(
    `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r'`,
    [schema],
  )
  const bytes = Number(size.rows[0].bytes)
  const exists = await query('SELECT to_regclass($1) IS NOT NULL AS ok', [`"${schema}".quire_docs`])
  if (!exists.rows[0].ok) return { bytes, storedBytes: 0, logRows: 0, docs: 0, lastAppendMs: 0, fingerprint: 'none' }
  const { rows: [d] } = await query(
    `SELECT count(*) AS docs, coalesce(sum(seq), 0) AS seq, coalesce(sum(base_seq), 0) AS base_seq,
            coalesce(sum(log_updates), 0) AS log_rows, coalesce(sum(base_bytes + log_bytes), 0) AS stored,
            coalesce(extract(epoch FROM max(updated_at)) * 1000, 0) AS last_append
       FROM "${schema}".quire_docs`,
  )
  return {
    bytes,
    storedBytes: Number(d.stored),
    logRows: Number(d.log_rows),
    docs: Number(d.docs),
    lastAppendMs: Number(d.last_append),
    fingerprint: `${d.docs}/${d.seq}/${d.base_seq}/${d.log_rows}/${d.stored}`,
  }
}

/** Drops the bench database and deletes the bench's Redis keys. Call once, when no server runs. */
export async function cleanupDatabases() {
  if (!exists) return
  await pool?.end()
  pool = null
  const { Client } = await pg()
  const admin = new Client({ connectionString: ADMIN_URL })
  await admin.connect()
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`)
    exists = false
  } finally {
    await admin.end()
  }
  await deleteRedisKeys()
}

/** Quire keeps little in Redis (REST rate-limit counters of a cluster), but whatever it made goes. */
async function deleteRedisKeys() {
  if (clusters === 0) return
  const { Redis } = await import('ioredis')
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await redis.connect()
    storeVersions.Redis = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?'
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${REDIS_PREFIX}*`, 'COUNT', 1000)
      if (keys.length) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

/**
 * Exit hook for a bench that stops early (watchdog, Ctrl-C, crash): 'exit' handlers cannot wait
 * for a promise, so a short-lived node process drops the database (FORCE: servers that were just
 * SIGKILLed may still hold connections for a moment).
 */
function dropSynchronously() {
  if (!exists) return
  const script = `const { Client } = require('pg'); const c = new Client({ connectionString: process.argv[1] });
    c.connect().then(() => c.query('DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)')).finally(() => c.end())`
  spawnSync(process.execPath, ['-e', script, ADMIN_URL], { cwd: PROJECT_ROOT, stdio: 'ignore', timeout: 10_000 })
}
