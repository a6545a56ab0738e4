/**
 * The connection pool of the PostgreSQL store, and whether the database can be reached.
 *
 * Every query goes through `query` or `transaction`, which record the outcome: a connection-level
 * failure (refused, reset, timed out, server shutting down) marks the database unreachable, any
 * successful query marks it reachable again. A periodic `SELECT 1` keeps the answer current when
 * no document is being written, so `/readyz` turns 503 within one interval of an outage and back
 * to 200 within one interval of the recovery. Errors are recorded, never swallowed: they still
 * reach the caller.
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

  constructor(options: PostgresConnectionOptions) {
    const statementTimeout = options.statementTimeoutMs ?? POSTGRES_DEFAULTS.statementTimeoutMs
    this.logger = options.log ?? silentLogger
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? POSTGRES_DEFAULTS.poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs ?? POSTGRES_DEFAULTS.connectTimeoutMs,
      idleTimeoutMillis: options.idleTimeoutMs ?? POSTGRES_DEFAULTS.idleTimeoutMs,
      keepAlive: true,
      application_name: 'quire',
      types,
      ...(statementTimeout > 0 && {
        statement_timeout: statementTimeout,
        // Client-side too, a little later: a server that stopped answering (no reset, no
        // response) would otherwise hold the query, and the appends waiting on it, forever.
        query_timeout: statementTimeout + 1000,
      }),
    })
    // An idle pooled connection that breaks is reported here; without a listener it would crash the process.
    this.pool.on('error', (error) => this.setReachable(false, error))
    const interval = options.healthCheckIntervalMs ?? POSTGRES_DEFAULTS.healthCheckIntervalMs
    this.timer = setInterval(() => this.check(), interval)
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
   * Runs `work` in one transaction (READ COMMITTED) on one connection and commits it. On any
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
      this.setReachable(false, error)
    }
    client.on('error', onError)
    const query: Query = (text, values) => {
      if (lost) return Promise.reject(lost)
      return this.track(client.query(text, values))
    }
    try {
      await query('BEGIN')
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
      if (isConnectionError(error)) this.setReachable(false, error)
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

  private check(): void {
    // A check still unanswered after a whole interval: the database is not answering in time.
    if (this.checking) {
      this.setReachable(false, new Error('health check unanswered for a whole interval'))
      return
    }
    // A failure is recorded by `query` (and logged when it changes the state); nobody else awaits it.
    this.checking = this.query('SELECT 1')
      .then(
        () => {},
        (error: unknown) => {
          if (!isConnectionError(error)) this.logger.warn({ err: error }, 'PostgreSQL health check failed')
        },
      )
      .finally(() => {
        this.checking = null
      })
  }
}
