/**
 * Quire as a Fastify plugin (`quire`) and as a ready-made Fastify instance (`createServer`).
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import { RoomRegistry } from './room/registry.js'
import type { DocStore } from './storage/doc-store.js'
import { LevelDocStore } from './storage/leveldb.js'
import { attachWebSocket } from './transport/websocket.js'

export interface QuireOptions {
  /** LevelDB directory, used when no `store` is given. Default `./data`. */
  dataDir?: string
  /** Bring your own storage; Quire then leaves opening and closing it to you. */
  store?: DocStore
  /** fsync every write batch. Default false: a process crash loses nothing, a power cut may. */
  fsync?: boolean
  /** Compact a document's log once it holds this many updates (default 1000)… */
  compactAfterUpdates?: number
  /** …or this many bytes (default 1 MiB). */
  compactAfterBytes?: number
  /** Largest accepted WebSocket frame (default 16 MiB); larger frames close with 1009. */
  maxFrameBytes?: number
  /** WebSocket ping interval; a socket that did not answer the previous ping is dropped. Default 30 s. */
  pingIntervalMs?: number
  /** URL path whose sub-paths are documents, e.g. `/collab` → `ws://host/collab/<doc>`. Default `/`. */
  basePath?: string
}

export interface QuireContext {
  registry: RoomRegistry
  store: DocStore
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
    const store =
      options.store ??
      (await LevelDocStore.open(options.dataDir ?? './data', {
        fsync: options.fsync,
        compactAfterUpdates: options.compactAfterUpdates,
        compactAfterBytes: options.compactAfterBytes,
        log: app.log,
      }))
    const registry = new RoomRegistry(store, app.log)
    attachWebSocket(app, registry, {
      basePath: options.basePath ?? '/',
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      pingIntervalMs: options.pingIntervalMs ?? 30_000,
    })
    app.decorate('quire', { registry, store })
    app.addHook('onClose', async () => {
      await registry.close()
      if (!options.store) await store.close()
    })
  },
  { name: 'quire', fastify: '5.x' },
)

export type CreateServerOptions = QuireOptions & {
  /** Fastify's logger option (pino); off by default for library use. */
  logger?: FastifyServerOptions['logger']
}

/** A standalone Fastify instance with Quire registered. Call `listen()` on it. */
export function createServer(options: CreateServerOptions = {}): FastifyInstance {
  const { logger = false, ...quireOptions } = options
  const app = Fastify({ logger })
  app.register(quire, quireOptions)
  return app
}
