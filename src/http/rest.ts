/**
 * The REST API as one encapsulated plugin: routes under `/api`, its own error handler, and
 * (unless the app already documents itself with @fastify/swagger) `/openapi.json` and `/docs`.
 * Encapsulated so that neither the error handler nor the OpenAPI generator touches the app's
 * other routes.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { RoomRegistry } from '../room/registry.js'
import type { DocStore } from '../storage/doc-store.js'
import { docsRoutes } from './docs-routes.js'
import { handleError } from './errors.js'
import { registerOpenapi, serveOpenapi } from './openapi.js'
import { sharedSchemas } from './schemas.js'
import { versionsRoutes } from './versions-routes.js'
import { registerRestRateLimit, type RestRateLimit } from '../limits/http.js'
import type { LimitMetrics } from '../limits/limits.js'
import type { Guard } from '../auth/rest-guard.js'

export interface RestOptions {
  registry: RoomRegistry
  store: DocStore
  /** Largest accepted request body (POST update); larger ones get 413. */
  maxBodyBytes: number
  /** Per-IP request limit for these routes (limits/http.ts); absent: unlimited. */
  rateLimit?: RestRateLimit
  limitMetrics?: LimitMetrics
  /** Authentication and permissions for the /api routes (auth/rest-guard.ts). */
  guard?: Guard
}

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

export const restApi: FastifyPluginAsync<RestOptions> = async (app, options) => {
  // An app that registered @fastify/swagger itself gets these routes in its own document.
  const openapi = !app.hasDecorator('swagger')
  if (openapi) await registerOpenapi(app)
  else app.log.info('@fastify/swagger already registered: Quire does not serve /openapi.json and /docs')
  for (const schema of sharedSchemas) app.addSchema(schema)
  app.setErrorHandler(handleError)
  if (options.rateLimit) await registerRestRateLimit(app, options.rateLimit, options.limitMetrics ?? { limitRejected() {} })
  await app.register(docsRoutes, { ...options, prefix: '/api' })
  await app.register(versionsRoutes, { ...options, prefix: '/api' })
  if (openapi) await serveOpenapi(app)
}
