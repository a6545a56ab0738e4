/**
 * The connection pool of the PostgreSQL store, and whether the database can be reached.
 *
 * Every query goes through `query` or `transaction`, which record the outcome: any successful
 * query marks the database reachable; a connection-level failure (refused, reset, timed out,
 * server shutting down) starts a health check at once, which marks it unreachable unless the
 * server still answers on a connection of its own (a single dropped connection is not an
 * outage). The same check runs periodically, so `/readyz` turns 503 within one interval of an
 * outage even when nothing is written, and back to 200 within one interval of the recovery.
 * Errors are recorded, never swallowed: they still reach the caller.
 */
import pg, { type PoolClient, type QueryResult, type QueryResultRow } from 'pg'
import { silentLogger, type Logger } from '../logger.js'

export interface PostgresConnectionOptions {
  /** `postgres://user:password@host:port/database?…` */
  connectionString: string
  /** Most connections the pool opens (default 10). */
  poolSize?: number
  /** Give up connecting after this long (default 5000 ms). */
  connectTimeoutMs?: number
  /** Cancel a statement running longer than this, server- and client-side (default 30000 ms; 0 = never). */
  statementTimeoutMs?: number
  /** Close a pooled connection idle this long (default 30000 ms). */
  idleTimeoutMs?: number
  /** How often to check that the database answers (default 5000 ms). */
  healthCheckIntervalMs?: number
  /** Where lost connections are reported. */
  log?: Logger
}

export const POSTGRES_DEFAULTS = {
  poolSize: 10,
  connectTimeoutMs: 5000,
  statementTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  healthCheckIntervalMs: 5000,
} as const

/** Runs one statement on the transaction's connection. */
export type Query = <R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]) => Promise<QueryResult<R>>

const INT8_OID = 20

/**
 * bigint columns come back as JS numbers (exact up to 2^53: seqs and byte counts never get near).
 * Set on this pool only, never on pg's global parsers, which other code in the process may rely on.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
}

/**
 * Whether an error means the database cannot be reached (as opposed to a statement it refused):
 * anything that is not an error reported by the server (sockets, timeouts, a closed pool), or the
 * server's connection-exception (08), shutdown (57P01–57P03) and too-many-connections classes.
 */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof pg.DatabaseError)) return true
  const code = error.code ?? ''
  return code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code)
}

export class PostgresDatabase {
  private readonly pool: pg.Pool
  private readonly logger: Logger
  private reachable = true
  /** Set once the store is open: failures before that are start-up errors, reported by the caller. */
  private started = false
  private closed = false
  private readonly timer: NodeJS.Timeout
  private checking: Promise<void> | null = null

  /** Settings of every connection, pooled or not. */
  private readonly clientConfig: pg.ClientConfig

  constructor(options: PostgresConnectionOptions) {
    const statementTimeout = options.statementTimeoutMs ?? POSTGRES_DEFAULTS.statementTimeoutMs
    this.logger = options.log ?? silentLogger
    this.clientConfig = {
      connectionString: options.connectionString,
      connectionTimeoutMillis: options.connectTimeoutMs ?? POSTGRES_DEFAULTS.connectTimeoutMs,
      keepAlive: true,
      application_name: 'quire',
      types,
      ...(statementTimeout > 0 && {
        statement_timeout: statementTimeout,
        // Client-side too, a little later: a server that stopped answering (no reset, no
        // response) would otherwise hold the query, and the appends waiting on it, forever.
        query_timeout: statementTimeout + 1000,
      }),
    }
    this.pool = new pg.Pool({
      ...this.clientConfig,
      max: options.poolSize ?? POSTGRES_DEFAULTS.poolSize,
      idleTimeoutMillis: options.idleTimeoutMs ?? POSTGRES_DEFAULTS.idleTimeoutMs,
      // The locking here relies on READ COMMITTED (each statement sees what committed before it
      // started, updates re-read the latest row version), whatever default the server was given.
      // pg-pool awaits this before handing the connection out; its types say void.
      // eslint-disable-next-line @typescript-eslint/no-misused-promises
      onConnect: (client) => client.query(`SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED`),
    })
    // An idle pooled connection that breaks is reported here (without a listener it would crash the
    // process). The server may be gone, or only that connection (an idle timeout, a proxy): ask now.
    this.pool.on('error', (error) => {
      if (this.started) this.logger.warn({ err: error }, 'PostgreSQL connection lost')
      this.check(false)
    })
    const interval = options.healthCheckIntervalMs ?? POSTGRES_DEFAULTS.healthCheckIntervalMs
    this.timer = setInterval(() => this.check(true), interval)
    this.timer.unref()
  }

  /** From now on, losing and regaining the database is logged. */
  markStarted(): void {
    this.started = true
  }

  /** False once closed, and while the database cannot be reached. */
  isOpen(): boolean {
    return !this.closed && this.reachable
  }

  async query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
    return this.track(this.pool.query<R>(text, values))
  }

  /**
   * Runs `work` in one READ COMMITTED transaction on one connection and commits it. On any
   * failure the connection is discarded rather than rolled back: the server rolls back a
   * transaction whose connection ends, and a broken connection could not roll back anyway.
   */
  async transaction<T>(work: (query: Query) => Promise<T>): Promise<T> {
    const client: PoolClient = await this.track(this.pool.connect())
    // While checked out the pool does not listen for the connection's errors; one arriving between
    // two statements (the server went away while `work` computes) would otherwise crash the process.
    let lost: Error | undefined
    const onError = (error: Error) => {
      lost ??= error
      this.check(false)
    }
    client.on('error', onError)
    const query: Query = (text, values) => {
      if (lost) return Promise.reject(lost)
      return this.track(client.query(text, values))
    }
    try {
      await query('BEGIN ISOLATION LEVEL READ COMMITTED')
      const result = await work(query)
      await query('COMMIT')
      client.off('error', onError)
      client.release()
      return result
    } catch (error) {
      client.off('error', onError)
      client.release(error instanceof Error ? error : new Error(String(error)))
      throw error
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    await this.checking
    await this.pool.end()
  }

  private async track<T>(operation: Promise<T>): Promise<T> {
    try {
      const result = await operation
      this.setReachable(true)
      return result
    } catch (error) {
      // One connection failing may be that connection alone (dropped by an idle timeout or a
      // proxy): the health check decides whether the database is reachable.
      if (isConnectionError(error)) this.check(false)
      throw error
    }
  }

  /** Records whether the database answers; each change is logged once, not every failed query. */
  private setReachable(reachable: boolean, error?: unknown): void {
    if (reachable === this.reachable || this.closed) return
    this.reachable = reachable
    if (!this.started) return
    if (reachable) this.logger.info({}, 'PostgreSQL reachable again')
    else this.logger.error({ err: error }, 'PostgreSQL unreachable; /readyz answers 503 until it is back')
  }

  private check(timer: boolean): void {
    if (this.checking || this.closed) {
      // A check still unanswered after a whole interval: the database is not answering in time.
      if (timer && this.checking) this.setReachable(false, new Error('health check unanswered for a whole interval'))
      return
    }
    // The outcome is recorded (and logged when it changes the state); nobody else awaits it.
    this.checking = this.probe()
      .then(
        () => this.setReachable(true),
        (error: unknown) => this.setReachable(false, error),
      )
      .finally(() => {
        this.checking = null
      })
  }

  /** Resolves if the database answers. */
  private async probe(): Promise<void> {
    try {
      await this.pool.query('SELECT 1')
    } catch (error) {
      if (!isConnectionError(error) || this.closed) throw error
      // The pooled connection may have been the only thing lost, and its siblings with it (a
      // server-side idle timeout): a connection of its own tells whether the server is there.
      const client = new pg.Client(this.clientConfig)
      client.on('error', () => {}) // a failure surfaces through connect/query below
      try {
        await client.connect()
        await client.query('SELECT 1')
      } finally {
        await client.end().catch(() => {})
      }
    }
  }
}
