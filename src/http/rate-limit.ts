/**
 * HTTP limits of the REST API: per-IP rate limiting (@fastify/rate-limit) and CORS
 * (@fastify/cors). Both are registered inside the REST plugin's own context, so they touch neither
 * the host app's routes nor the pages. CORS is off unless origins are listed (--allowed-origins,
 * or the older --cors-origin): browsers then only allow same-origin calls, the safe default for
 * an API that writes documents.
 */
import type { FastifyInstance } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import cors from '@fastify/cors'
import { HttpError } from './errors.js'
import type { LimitMetrics } from '../limits/limits.js'

export interface RestRateLimit {
  /** Requests per window and IP; 0 disables. */
  max: number
  windowMs: number
}

/** A Redis connection (ioredis) and key prefix for counts every instance shares. */
export interface SharedRateLimitStore {
  redis: unknown
  nameSpace: string
}

export const DEFAULT_REST_RATE_LIMIT: RestRateLimit = { max: 1000, windowMs: 60_000 }

/**
 * Registers the rate limit in `scope` (the REST plugin), so it counts only REST requests. The
 * refusal is thrown as an HttpError, so the REST error handler answers it in the usual JSON shape.
 */
export async function registerRestRateLimit(scope: FastifyInstance, limit: RestRateLimit, metrics: LimitMetrics, shared?: SharedRateLimitStore): Promise<void> {
  if (limit.max <= 0) return
  await scope.register(rateLimit, {
    max: limit.max,
    timeWindow: limit.windowMs,
    // With Redis unreachable the API stays up, limited by nothing rather than refusing everyone.
    ...(shared && { redis: shared.redis, nameSpace: shared.nameSpace, skipOnError: true }),
    onExceeded: () => metrics.limitRejected('rest-rate'),
    errorResponseBuilder: (_request, context) =>
      new HttpError(429, `rate limit of ${context.max} requests per ${context.after} exceeded, retry later`),
  })
}

/**
 * `origins`: exact origins (`https://app.example`), or `*` for any; empty leaves CORS off.
 * Registered in `scope` (the REST plugin). DELETE is among the preflight's methods: @fastify/cors
 * allows only GET, HEAD and POST by default, which would make a listed app unable to delete.
 */
export async function registerCors(scope: FastifyInstance, origins: readonly string[]): Promise<void> {
  if (origins.length === 0) return
  await scope.register(cors, { origin: origins.includes('*') ? '*' : [...origins], methods: ['GET', 'HEAD', 'POST', 'DELETE'] })
}
