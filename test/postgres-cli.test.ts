/**
 * `quire serve` on PostgreSQL: the --database-* settings, and a real server process that keeps
 * its documents in the database across a restart (and writes nothing to --data).
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, parseServeConfig } from '../src/index.js'
import { cleanup, connect, synced, tempDir, waitFor, withTimeout } from './helpers.js'
import { atFirstSync, killChildren, spawnCli, startChild } from './child-server.js'
import { createTestDatabase, randomSchema, type TestDatabase } from './postgres-helpers.js'

let database: TestDatabase

beforeAll(async () => {
  database = await createTestDatabase()
})
afterEach(async () => {
  await killChildren()
  await cleanup()
})
afterAll(async () => {
  await database?.drop()
})

const SECRET_URL = 'postgres://quire:s3cret-pa55@db.example:5432/quire'

describe('--database-* settings', () => {
  it('select PostgreSQL with a postgres:// URL, LevelDB without one', () => {
    const level = parseServeConfig([], {})
    expect(level.databaseUrl).toBeUndefined()
    expect(level.database).toEqual({ schema: 'public', poolSize: 10, connectTimeoutMs: 5000, statementTimeoutMs: 30000 })

    expect(parseServeConfig([], { DATABASE_URL: SECRET_URL }).databaseUrl).toBe(SECRET_URL)
    expect(parseServeConfig(['--database-url', 'postgresql://h/db'], { DATABASE_URL: SECRET_URL }).databaseUrl).toBe('postgresql://h/db')
    const tuned = parseServeConfig(
      ['--database-pool-size', '3', '--database-statement-timeout-ms', '0', '--database-schema', 'quire'],
      { DATABASE_CONNECT_TIMEOUT_MS: '250' },
    )
    expect(tuned.database).toEqual({ schema: 'quire', poolSize: 3, connectTimeoutMs: 250, statementTimeoutMs: 0 })
  })

  it.each([
    ['a MySQL URL', { DATABASE_URL: 'mysql://quire:s3cret-pa55@db.example/quire' }, 'DATABASE_URL'],
    ['not a URL', { DATABASE_URL: 's3cret-pa55' }, 'DATABASE_URL'],
    ['a pool of 0', { DATABASE_POOL_SIZE: '0' }, 'DATABASE_POOL_SIZE'],
    ['a negative timeout', { DATABASE_STATEMENT_TIMEOUT_MS: '-1' }, 'DATABASE_STATEMENT_TIMEOUT_MS'],
    ['an empty schema', { DATABASE_SCHEMA: ' ' }, 'DATABASE_SCHEMA'],
  ])('refuse %s, naming the setting and never echoing the URL', (_what, env, setting) => {
    let error: unknown
    try {
      parseServeConfig([], env)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toContain(setting)
    expect((error as Error).message).not.toContain('s3cret')
  })
})

describe('quire serve --database-url', () => {
  it('keeps documents in PostgreSQL across a restart, and leaves --data alone', async () => {
    const dataDir = join(await tempDir(), 'data')
    const env = { DATABASE_URL: database.url, DATABASE_SCHEMA: randomSchema() }
    const first = await startChild({ dataDir, env })
    const editor = connect(first.url, 'notes')
    await synced(editor)
    editor.doc.getText('t').insert(0, 'kept in postgres')
    // The server holds the edit (a REST read of a loaded document waits until it is stored), then a clean stop.
    const text = async () => (await fetch(`http://127.0.0.1:${first.port}/api/docs/notes/text?key=t`)).text()
    await waitFor(async () => (await text()) === 'kept in postgres', 'the server to store the edit')
    editor.destroy()
    expect((await first.kill('SIGTERM')).code).toBe(0)

    const second = await startChild({ dataDir, env })
    const reader = connect(second.url, 'notes')
    expect(await atFirstSync(reader, (doc) => doc.getText('t').toString())).toBe('kept in postgres')
    expect(existsSync(dataDir)).toBe(false)
  })

  it('exits with the reason when the database cannot be reached', async () => {
    const proc = spawnCli([], { PORT: '0', HOST: '127.0.0.1', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/quire', DATABASE_CONNECT_TIMEOUT_MS: '2000' })
    const exit = await withTimeout(proc.exited, 15_000, 'the process to exit')
    expect(exit.code).not.toBe(0)
    expect(proc.stderr).toMatch(/^quire: cannot start: .*ECONNREFUSED/)
  })
})
