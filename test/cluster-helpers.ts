/**
 * Redis for cluster tests. The shared server (127.0.0.1:6379, or QUIRE_TEST_REDIS_URL) with a key
 * prefix per test; a test that stops and restarts Redis starts a private redis-server on a port of
 * its own instead. A test that needs Redis fails when it is down: it never skips.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer, type AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { waitFor } from './helpers.js'
import { createTestDatabase, type TestDatabase } from './postgres-helpers.js'

export const SHARED_REDIS_URL = process.env.QUIRE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A prefix of its own for one test: channels and rate-limit keys cannot meet another test's. */
export const randomPrefix = () => `quire-test-${randomBytes(5).toString('hex')}:`

/** Fails loudly (never skips) when the shared Redis is not there. */
export async function requireSharedRedis(): Promise<void> {
  const client = new Redis(SHARED_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.ping()
  } catch (error) {
    throw new Error(`Redis is needed for this test and cannot be reached at ${SHARED_REDIS_URL}: ${(error as Error).message}`, { cause: error })
  } finally {
    client.disconnect()
  }
}

/** Deletes the keys a test left under its prefix (the REST rate limit's counters). */
export async function dropPrefix(prefix: string): Promise<void> {
  const client = new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: 0 })
  client.on('error', () => {})
  try {
    const keys = await client.keys(`${prefix}*`)
    if (keys.length > 0) await client.del(...keys)
  } finally {
    client.disconnect()
  }
}

/**
 * For a test file whose servers share one PostgreSQL database and the shared Redis: the database
 * is created once (after checking Redis) and dropped at the end; `prefix()` gives a test a Redis
 * prefix of its own, whose keys are deleted after it. Call it before the file's own afterEach:
 * vitest runs after-hooks in reverse order, so the file closes its servers before their keys go.
 */
export function sharedPostgresAndRedis(): { readonly database: TestDatabase; prefix(): string } {
  let database: TestDatabase | undefined
  const prefixes: string[] = []
  beforeAll(async () => {
    await requireSharedRedis()
    database = await createTestDatabase()
  })
  afterEach(async () => {
    for (const prefix of prefixes.splice(0)) await dropPrefix(prefix)
  })
  afterAll(async () => {
    await database?.drop()
  })
  return {
    get database() {
      if (!database) throw new Error('the test database is created in beforeAll')
      return database
    },
    prefix() {
      const prefix = randomPrefix()
      prefixes.push(prefix)
      return prefix
    },
  }
}

/** A redis-server of the test's own, which it may stop and start again on the same port. */
export interface PrivateRedis {
  url: string
  port: number
  stop(): Promise<void>
  start(): Promise<void>
}

/** A TCP port nothing listens on right now (for a server the test starts itself). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort()
  let child: ChildProcess | null = null
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    child.once('error', () => {})
    await waitFor(async () => {
      const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      probe.on('error', () => {})
      try {
        await probe.connect()
        return (await probe.ping()) === 'PONG'
      } catch {
        return false
      } finally {
        probe.disconnect()
      }
    }, `redis-server on port ${port}`)
  }
  const stop = async () => {
    const running = child
    child = null
    if (!running || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once('exit', resolve))
    running.kill('SIGKILL')
    await exited
  }
  await start()
  process.once('exit', () => child?.kill('SIGKILL'))
  return { url: `redis://127.0.0.1:${port}`, port, start, stop }
}
