/**
 * Browser pages: the demo editor (`/`, `/?doc=name`, `/d/<name>`) and the admin dashboard
 * (`/admin`, fed by `/admin/events`). Their scripts are bundled by `npm run build` into
 * dist/web, so the pages need no CDN. Plain GET routes never collide with documents: every
 * WebSocket upgrade is a document whatever its path (see transport/websocket.ts).
 */
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { forwardTo, lazyInstance } from './lazy-routes.js'
import { AdminFeed, serveAdminEvents } from './admin-feed.js'
import type { RoomRegistry } from '../room/registry.js'
import type { DocStore } from '../storage/doc-store.js'
import type { QuireMetrics } from '../metrics/metrics.js'
import { decoratePrincipal, type Guard } from './auth-hooks.js'
import { originHook } from './cross-site.js'
import type { OriginCheck } from '../auth/origins.js'

/** dist/web at the package root, from src/http (tests) as from dist/http (installed). */
export const WEB_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url))

export interface UiRoutesOptions {
  registry: RoomRegistry
  store: DocStore
  metrics: QuireMetrics
  /** URL path the routes are mounted under, with a trailing slash; pages use it for links and the WebSocket. */
  base: string
  /** Dashboard refresh interval. Default 1 s. */
  adminIntervalMs?: number
  /** Guards /admin and its event stream when authentication is on (admin token). */
  adminGuard?: Guard
  /** Browser origins allowed to fetch /admin and its event stream (auth/origins.ts); absent: every origin. */
  originAllowed?: OriginCheck
  /** Dashboard event streams open at once (default 16) and unsent bytes each may hold (default 1 MiB). */
  adminMaxStreams?: number
  adminMaxBufferedBytes?: number
}

export const uiRoutes: FastifyPluginAsync<UiRoutesOptions> = async (app, options) => {
  if (!existsSync(join(WEB_ROOT, 'index.html'))) {
    app.log.warn({ dir: WEB_ROOT }, 'web pages are not built (run `npm run build`); / and /admin answer 503')
    const notBuilt = { error: 'web pages are not built: run `npm run build`' }
    for (const path of ['/', '/d/*', '/admin']) app.get(path, (_request, reply) => reply.code(503).send(notBuilt))
    return
  }
  decoratePrincipal(app) // the event stream reads the admitted token's expiry
  const demo = page('index.html', options.base)
  const admin = page('admin.html', options.base)

  // @fastify/static (with glob, send…) loads on the first asset request, not at start-up: saves ~30 ms (measured).
  const assets = lazyInstance(app, async (inner) => {
    const { default: fastifyStatic } = await import('@fastify/static')
    await inner.register(fastifyStatic, { root: join(WEB_ROOT, 'assets'), prefix: `${app.prefix}/assets/`, decorateReply: false })
  })
  app.get('/assets/*', { logLevel: 'warn' }, forwardTo(assets))
  const html = (body: string) => async (_request: unknown, reply: FastifyReply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(body)
  app.get('/', html(demo))
  app.get('/d/*', html(demo))
  // The origin check first: a page on a refused site learns nothing, not even whether its token would do.
  const onRequest = [options.originAllowed && originHook(options.originAllowed), options.adminGuard].filter((hook): hook is Guard => hook !== undefined)
  const guarded = onRequest.length > 0 ? { onRequest } : {}
  app.get('/admin', guarded, html(admin))
  serveAdminEvents(app, '/admin/events', new AdminFeed(options.registry, options.store, options.metrics), {
    intervalMs: options.adminIntervalMs ?? 1000,
    maxStreams: options.adminMaxStreams,
    maxBufferedBytes: options.adminMaxBufferedBytes,
    routeOptions: guarded,
  })
}

/** Reads a page once and fills in the base path its links and WebSocket URL are built from. */
function page(file: string, base: string): string {
  const escaped = base.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return readFileSync(join(WEB_ROOT, file), 'utf8').replaceAll('%BASE%', escaped)
}
