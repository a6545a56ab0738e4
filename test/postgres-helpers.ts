/**
 * PostgreSQL for tests: the shared server at 127.0.0.1:5432 (trust auth, user postgres), or
 * QUIRE_TEST_DATABASE_URL. Each test file gets a database of its own, dropped afterwards; tests
 * inside it use schemas of their own. A test that needs PostgreSQL fails when it is down: it
 * never skips.
 */
import { randomBytes } from 'node:crypto'
import { createServer, connect as tcpConnect, type AddressInfo, type Server, type Socket } from 'node:net'
import pg from 'pg'

const ADMIN_URL = process.env.QUIRE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

export interface TestDatabase {
  /** URL of the new database. */
  url: string
  name: string
  /** The same database through another host and port (for a proxy in between). */
  urlVia(port: number): string
  /** Runs one statement as the admin user on the test database. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>
  drop(): Promise<void>
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `quire_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 })
  try {
    await admin.connect()
  } catch (error) {
    throw new Error(`PostgreSQL is needed for this test and cannot be reached at ${ADMIN_URL}: ${(error as Error).message}`, { cause: error })
  }
  try {
    // A linguistic default collation (where 'a' < 'B' < 'é' < 'z'), so that only the tables' own
    // COLLATE "C" can give byte order. Servers without ICU get their default.
    await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`)
  } catch {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(ADMIN_URL)
  url.pathname = '/' + name
  const client = new pg.Client({ connectionString: url.toString() })
  await client.connect()
  return {
    url: url.toString(),
    name,
    urlVia(port) {
      const via = new URL(url)
      via.hostname = '127.0.0.1'
      via.port = String(port)
      return via.toString()
    },
    query: (text, values) => client.query(text, values),
    async drop() {
      await client.end().catch(() => {})
      const dropper = new pg.Client({ connectionString: ADMIN_URL })
      await dropper.connect()
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await dropper.end()
      }
    },
  }
}

export const randomSchema = () => `quire_${randomBytes(5).toString('hex')}`

/** Host and port of the test PostgreSQL server. */
export function serverAddress(): { host: string; port: number } {
  const url = new URL(ADMIN_URL)
  return { host: url.hostname || '127.0.0.1', port: Number(url.port || 5432) }
}

/**
 * A TCP proxy to the test PostgreSQL server, to take "the database" away without touching the
 * shared server: `cut()` drops every connection and refuses new ones, `restore()` listens again
 * on the same port.
 */
export interface TcpProxy {
  port: number
  cut(): Promise<void>
  restore(): Promise<void>
  close(): Promise<void>
}

export async function tcpProxy(): Promise<TcpProxy> {
  const target = serverAddress()
  const sockets = new Set<Socket>()
  let server: Server | null = null
  let port = 0
  const listen = async () => {
    server = createServer((client) => {
      const upstream = tcpConnect(target.port, target.host)
      sockets.add(client).add(upstream)
      const drop = () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(client)
        sockets.delete(upstream)
      }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.pipe(upstream).pipe(client)
    })
    const listening = server
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject)
      listening.listen(port, '127.0.0.1', () => resolve())
    })
    port = (listening.address() as AddressInfo).port
  }
  const cut = async () => {
    const closing = server
    server = null
    if (!closing) return
    const closed = new Promise<void>((resolve) => closing.close(() => resolve()))
    for (const socket of sockets) socket.destroy()
    sockets.clear()
    await closed
  }
  await listen()
  return {
    get port() {
      return port
    },
    cut,
    restore: listen,
    close: cut,
  }
}
