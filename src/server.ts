/**
 * Quire as a Fastify plugin (`quire`) and as a ready-made Fastify instance (`createServer`).
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import { RoomRegistry } from './room/registry.js'
import type { DocStore } from './storage/doc-store.js'
import { LevelDocStore } from './storage/leveldb.js'
import { attachWebSocket } from './transport/websocket.js'
import { attachSse } from './transport/sse.js'
import { QuireMetrics } from './metrics/metrics.js'
import { instrumentStore } from './metrics/instrument-store.js'
import { opsRoutes } from './http/ops-routes.js'
import { uiRoutes } from './http/ui-routes.js'
import { DEFAULT_MAX_BODY_BYTES, restApi } from './http/rest.js'
import { compilersOnFirstUse } from './http/lazy-schemas.js'
import { MAX_DOCUMENT_NAME_BYTES } from './protocol/document-name.js'
import { AUTH_OFF_WARNING, setupAuth, type AuthOptions } from './auth/setup.js'
import { redactingLogger } from './auth/redact.js'
import { DEFAULT_ALLOWED_ORIGINS, corsOriginsOf, originCheck, parseAllowedOrigins } from './auth/origins.js'
import { DEFAULT_LIMITS, type Limits } from './limits/limits.js'
import { SocketGuard } from './limits/socket-guard.js'
import { DEFAULT_REST_RATE_LIMIT, type RestRateLimit } from './http/rate-limit.js'
import { authHooks } from './http/auth-hooks.js'
import { trustFunction, type TrustProxy } from './limits/client-address.js'
import type { ClusterTiming } from './cluster/cluster.js'
// Cluster mode and change events load only when configured, with the full prom-client they import: ~6 ms (measured).
import type { RunningCluster } from './cluster/start.js'
import type { ChangeEventOptions } from './events/start.js'

/** Connection settings of the PostgreSQL store; unset ones keep their defaults. */
export interface DatabaseOptions {
  /** Schema holding Quire's tables, created if missing. Default `public`. */
  schema?: string
  /** Most connections per server. Default 10. */
  poolSize?: number
  /** Give up connecting after this long. Default 5000 ms. */
  connectTimeoutMs?: number
  /** Cancel a statement running longer than this. Default 30000 ms; 0 = never. */
  statementTimeoutMs?: number
  /** Close a connection idle this long. Default 30000 ms. */
  idleTimeoutMs?: number
  /** How often `/readyz` re-checks that the database answers. Default 5000 ms. */
  healthCheckIntervalMs?: number
}

export interface QuireOptions {
  /** LevelDB directory, used when neither `store` nor `databaseUrl` is given. Default `./data`. */
  dataDir?: string
  /** `postgres://` URL: store documents in PostgreSQL (several servers may share it) instead of LevelDB. */
  databaseUrl?: string
  /** PostgreSQL pool, timeouts and schema, with `databaseUrl`. */
  database?: DatabaseOptions
  /** Bring your own storage; Quire then leaves opening and closing it to you. */
  store?: DocStore
  /**
   * `redis://` URL: run as one of several instances serving the same documents (docs/cluster.md).
   * Needs a store every instance shares (`databaseUrl`, or your own `store`).
   */
  redisUrl?: string
  /** Prefix of the cluster's Redis channels and keys. Default `quire:`. */
  redisPrefix?: string
  /** This instance's name in logs and on the bus. Default: host name and pid. */
  instanceId?: string
  /** Heartbeat, expiry and coalescing intervals of the cluster bus (docs/cluster.md). */
  clusterTiming?: Partial<ClusterTiming>
  /** Tell your backend when documents change: webhooks with a durable outbox (docs/events.md). */
  changeEvents?: ChangeEventOptions
  /** fsync every write batch. Default false: a process crash loses nothing, a power cut may. */
  fsync?: boolean
  /** Compact a document's log once it holds this many updates (default 1000)… */
  compactAfterUpdates?: number
  /** …or this many bytes (default 1 MiB). */
  compactAfterBytes?: number
  /**
   * Awareness changes (cursors, presence) are relayed once per window of this many ms, the latest
   * state of each client that changed: fewer frames for a small delay. Default 16 (one frame at
   * 60 Hz); 0 relays each change at once.
   */
  awarenessWindowMs?: number
  /** Largest accepted WebSocket frame (default 16 MiB); larger frames close with 1009. */
  maxFrameBytes?: number
  /** WebSocket ping interval; a socket that did not answer the previous ping is dropped. Default 30 s. */
  pingIntervalMs?: number
  /** URL path whose sub-paths are documents, e.g. `/collab` → `ws://host/collab/<doc>`. Default `/`. */
  basePath?: string
  /** Serve `healthz`, `readyz` and `metrics` under basePath. Default true. */
  operations?: boolean
  /** Serve the demo editor (`/`, `/d/<doc>`) and the admin dashboard (`/admin`) under basePath. Default true. */
  ui?: boolean
  /** Serve the REST API under `<basePath>/api`, its OpenAPI document at `/openapi.json` and UI at `/docs`. Default true. */
  rest?: boolean
  /** Largest REST request body, e.g. a POSTed update (default 16 MiB); larger bodies get 413. */
  maxBodyBytes?: number
  /** JWT authentication and per-document permissions (docs/auth.md). Default: none, anonymous read-write. */
  auth?: AuthOptions
  /** Protective limits (README "Limits"); unset ones keep their defaults, 0 disables one. */
  limits?: Partial<Limits>
  /** REST requests per IP and window (default 1000 per minute); `max: 0` disables. */
  restRateLimit?: Partial<RestRateLimit>
  /**
   * Browser origins that may open WebSockets and call the REST API and admin pages (docs/auth.md#browser-origins):
   * `auto` (requests without Origin, same-origin, loopback; every origin when auth is on), `none`, `*`,
   * or exact origins (`https://app.example:8443`), which are also sent CORS headers. Default `['auto']`.
   */
  allowedOrigins?: string[]
  /** Older form of `allowedOrigins`: these origins are added to it. */
  corsOrigins?: string[]
  /**
   * Believe X-Forwarded-For from these proxies for the client's address (per-IP limits, logs):
   * `true` (every hop), a hop count, or addresses/CIDRs. Default false. In your own Fastify app,
   * give Fastify's `trustProxy` the same value.
   */
  trustProxy?: TrustProxy
}

export interface QuireContext {
  registry: RoomRegistry
  store: DocStore
  /** This server's Prometheus metrics (its own registry, not prom-client's global one). */
  metrics: QuireMetrics
  /** Set when running as one of several instances (`redisUrl`). */
  cluster?: RunningCluster
}

declare module 'fastify' {
  interface FastifyInstance {
    quire: QuireContext
  }
}

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024

/** Fastify plugin: mount Quire in an existing app with `app.register(quire, options)`. */
export const quire = fp<QuireOptions>(
  async (app, options) => {
    // First, before the store is opened: a malformed entry must stop start-up, not leave a server open to every site.
    const origins = parseAllowedOrigins([...(options.allowedOrigins ?? [DEFAULT_ALLOWED_ORIGINS]), ...(options.corsOrigins ?? [])])
    if (options.redisUrl && !options.store && !options.databaseUrl) {
      throw new Error('redisUrl needs databaseUrl (or a shared store): cluster instances share one store, and a LevelDB directory belongs to one process')
    }
    const rawStore = options.store ?? (await openStore(options, app.log))
    const metrics: QuireMetrics = new QuireMetrics({ loadedRooms: () => registry.size })
    const store = instrumentStore(rawStore, metrics)
    const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits }
    const registry = new RoomRegistry(
      store,
      app.log,
      {
        maxRooms: limits.maxRooms,
        maxDocumentBytes: limits.maxDocumentBytes,
        presence: { maxClients: limits.maxAwarenessClients, maxStateBytes: limits.maxAwarenessBytes },
        awarenessWindowMs: options.awarenessWindowMs,
      },
      metrics,
    )
    const basePath = options.basePath ?? '/'
    const auth = setupAuth(options.auth, metrics.registry)
    // Once listening: a server that fails to start (a bad host, a taken port) has nobody to warn.
    if (!auth.authenticator.enabled) app.addHook('onListen', async () => app.log.warn({}, AUTH_OFF_WARNING))
    const originAllowed = originCheck(origins, { authEnabled: auth.authenticator.enabled })
    const guards = authHooks(auth)
    // One guard for both transports: WebSocket connections and SSE streams share the connection limits.
    const socketGuard = new SocketGuard(limits, metrics)
    attachWebSocket(app, registry, {
      basePath,
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      pingIntervalMs: options.pingIntervalMs ?? 30_000,
      metrics,
      auth: auth.connection,
      guard: socketGuard,
      originAllowed,
      maxDocumentsPerConnection: limits.maxDocumentsPerConnection,
      ...(options.trustProxy !== undefined && options.trustProxy !== false && { trustProxy: trustFunction(options.trustProxy) }),
    })
    const cluster = options.redisUrl
      ? await (await import('./cluster/start.js')).startCluster({ url: options.redisUrl, prefix: options.redisPrefix, instanceId: options.instanceId, timing: options.clusterTiming }, registry, store, metrics.registry, app.log)
      : undefined
    const changeEvents = options.changeEvents && (options.changeEvents.webhooks.length > 0 || options.changeEvents.nats)
      ? await (await import('./events/start.js')).startChangeEvents(options.changeEvents, registry, store, metrics.registry, app.log)
      : undefined
    app.decorate('quire', { registry, store, metrics, cluster })
    const prefix = basePath.replace(/\/+$/, '')
    if (options.operations !== false) await app.register(opsRoutes, { prefix, store, metrics })
    if (options.ui !== false) await app.register(uiRoutes, { prefix, registry, store, metrics, base: prefix + '/', adminGuard: guards.adminGuard, originAllowed })
    if (options.rest !== false) {
      const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
      const rateLimit = { ...DEFAULT_REST_RATE_LIMIT, ...options.restRateLimit }
      const sse = attachSse(app, { registry, store, log: app.log, metrics, guard: socketGuard })
      // An awareness entry's client id, clock and length prefix take at most 32 bytes besides its state.
      const maxForwardedAwarenessBytes = limits.maxAwarenessClients * (limits.maxAwarenessBytes + 32)
      // Awareness POSTed to another instance for a stream held here (docs/sse.md, "Proxies").
      cluster?.onStreamAwareness((name, id, update) => {
        const stream = sse.get(id)
        if (stream?.name === name && stream.isLive) stream.receiveAwareness(update)
      })
      await app.register(restApi, { prefix, registry, store, maxBodyBytes, rateLimit, rateLimitRedis: cluster && { redis: cluster.rateLimitStore, nameSpace: `${cluster.prefix}rate:` }, limitMetrics: metrics, guard: guards.restGuard, originAllowed, corsOrigins: corsOriginsOf(origins), authEnabled: auth.authenticator.enabled, sse, forwardAwareness: cluster?.forwardStreamAwareness, maxForwardedAwarenessBytes, ...(changeEvents && store.events && { eventOutbox: store.events }) })
    }
    app.addHook('onClose', async () => {
      await registry.close()
      await changeEvents?.close()
      await cluster?.close()
      if (!options.store) await store.close()
    })
  },
  { name: 'quire', fastify: '5.x' },
)

/** The store Quire opens itself: PostgreSQL with a `databaseUrl`, else LevelDB in `dataDir`. */
async function openStore(options: QuireOptions, log: FastifyInstance['log']): Promise<DocStore> {
  const compaction = { compactAfterUpdates: options.compactAfterUpdates, compactAfterBytes: options.compactAfterBytes }
  if (options.databaseUrl) {
    // Loaded only when used: the embedded default should not pay for pg at start-up.
    const { PostgresDocStore } = await import('./storage/postgres.js')
    return PostgresDocStore.open({ connectionString: options.databaseUrl, ...options.database, ...compaction, log })
  }
  return LevelDocStore.open(options.dataDir ?? './data', { fsync: options.fsync, ...compaction, log })
}

export type CreateServerOptions = QuireOptions & {
  /** Fastify's logger option (pino); off by default for library use. */
  logger?: FastifyServerOptions['logger']
  /** Serve https and wss directly: PEM certificate (chain) and private key. */
  https?: { cert: string | Buffer; key: string | Buffer }
}

/**
 * A standalone Fastify instance with Quire registered. Call `listen()` on it.
 * `onlyQuire` (the CLI): nobody adds routes to it, so all its schemas may compile on first use,
 * which also spares loading Ajv at start-up (http/lazy-schemas.ts); an app adding routes keeps Fastify's compilers.
 */
export function createServer(options: CreateServerOptions = {}, { onlyQuire = false } = {}): FastifyInstance {
  const { logger = false, https, ...quireOptions } = options
  // A REST path carries a document name as one parameter: allow the longest name, fully percent-encoded.
  const fastifyOptions = {
    logger: redactingLogger(logger),
    routerOptions: { maxParamLength: 3 * MAX_DOCUMENT_NAME_BYTES },
    ...(quireOptions.trustProxy !== undefined && { trustProxy: trustFunction(quireOptions.trustProxy) }),
    // Fastify loads Ajv when created unless given compilers: saves ~30 ms at start-up (measured).
    ...(onlyQuire && { schemaController: { compilersFactory: compilersOnFirstUse } }),
  }
  // An https server serves wss:// upgrades the same way; the instance type differs only in its raw server.
  const app = https ? (Fastify({ ...fastifyOptions, https }) as unknown as FastifyInstance) : Fastify(fastifyOptions)
  app.register(quire, quireOptions)
  return app
}
