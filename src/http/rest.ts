/**
 * The REST API as one encapsulated plugin: routes under `/api`, its own error handler, and
 * (unless the app already documents itself with @fastify/swagger) `/openapi.json` and `/docs`,
 * both built on first request (openapi.ts). Its route schemas compile on first use (lazy-schemas.ts).
 * Encapsulated so that neither the error handler, the OpenAPI generator, CORS nor the hooks
 * below touch the app's other routes.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { RoomRegistry } from '../room/registry.js'
import type { DocStore } from '../storage/doc-store.js'
import { docsRoutes } from './docs-routes.js'
import { handleError } from './errors.js'
import { collectRoutes, serveOpenapi } from './openapi.js'
import { compileSchemasOnFirstUse } from './lazy-schemas.js'
import { sharedSchemas } from './schemas.js'
import { versionsRoutes } from './versions-routes.js'
import { backupRoutes } from './backup-routes.js'
import { eventsRoutes } from './events-routes.js'
import type { EventOutbox } from '../storage/event-outbox.js'
import { sseRoutes } from './sse-routes.js'
import type { SseTransport } from '../transport/sse.js'
import { registerCors, registerRestRateLimit, type RestRateLimit, type SharedRateLimitStore } from './rate-limit.js'
import type { LimitMetrics } from '../limits/limits.js'
import { decoratePrincipal, type Guard } from './auth-hooks.js'
import { originHook, preflightedWrites } from './cross-site.js'
import type { OriginCheck } from '../auth/origins.js'

export interface RestOptions {
  /** Authentication is on: the OpenAPI document declares the bearer scheme. */
  authEnabled?: boolean
  registry: RoomRegistry
  store: DocStore
  /** Largest accepted request body (POST update); larger ones get 413. */
  maxBodyBytes: number
  /** Per-IP request limit for these routes (http/rate-limit.ts); absent: unlimited. */
  rateLimit?: RestRateLimit
  /** Count the rate limit in Redis, shared by every instance (cluster); absent: in this process. */
  rateLimitRedis?: SharedRateLimitStore
  limitMetrics?: LimitMetrics
  /** Authentication and permissions for the /api routes (http/auth-hooks.ts). */
  guard?: Guard
  /** Browser origins allowed to call (auth/origins.ts); absent: every origin. */
  originAllowed?: OriginCheck
  /** Origins sent CORS headers (`*` for any); empty or absent: CORS off. */
  corsOrigins?: readonly string[]
  /** The change-event outbox, when change events are on: its dead letters get admin routes (GET /api/events says whether). */
  eventOutbox?: EventOutbox
  /** Serve documents as Server-Sent Events streams (`…/events`, `…/awareness`, docs/sse.md); absent: not served. */
  sse?: SseTransport
  /** Several instances: awareness POSTs for event streams held by another instance go there (sse-routes.ts). */
  forwardAwareness?: (name: string, stream: string, update: Uint8Array) => void
  maxForwardedAwarenessBytes?: number
}

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

export const restApi: FastifyPluginAsync<RestOptions> = async (app, options) => {
  // An app that registered @fastify/swagger itself gets these routes in its own document.
  const documented = app.hasDecorator('swagger') ? undefined : collectRoutes(app)
  if (!documented) app.log.info('@fastify/swagger already registered: Quire does not serve /openapi.json and /docs')
  compileSchemasOnFirstUse(app)
  for (const schema of sharedSchemas) app.addSchema(schema)
  app.setErrorHandler(handleError)
  decoratePrincipal(app)
  // Hooks run in this order: a refused origin is answered before anything else is done for it;
  // CORS comes next so that every later refusal (415, 429, 401, 403) is readable by a listed app.
  if (options.originAllowed) app.addHook('onRequest', originHook(options.originAllowed))
  await registerCors(app, options.corsOrigins ?? [])
  if (options.rateLimit) await registerRestRateLimit(app, options.rateLimit, options.limitMetrics ?? { limitRejected() {} }, options.rateLimitRedis)
  app.addHook('onRequest', preflightedWrites)
  await app.register(docsRoutes, { ...options, prefix: '/api' })
  await app.register(versionsRoutes, { ...options, prefix: '/api' })
  await app.register(backupRoutes, { ...options, prefix: '/api' })
  await app.register(eventsRoutes, { outbox: options.eventOutbox, guard: options.guard, prefix: '/api' })
  if (options.sse) await app.register(sseRoutes, { ...options, sse: options.sse, prefix: '/api' })
  if (documented) serveOpenapi(app, documented, { authEnabled: options.authEnabled ?? false })
}
