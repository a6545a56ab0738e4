/**
 * HTTP limits: per-IP rate limiting of the REST API (@fastify/rate-limit) and CORS
 * (@fastify/cors). CORS is off unless origins are configured: browsers then only allow
 * same-origin calls, the safe default for an API that writes documents.
 */
import type { FastifyInstance } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import cors from '@fastify/cors'
import { HttpError } from '../http/errors.js'
import type { LimitMetrics } from './limits.js'

export interface RestRateLimit {
  /** Requests per window and IP; 0 disables. */
  max: number
  windowMs: number
}

export const DEFAULT_REST_RATE_LIMIT: RestRateLimit = { max: 1000, windowMs: 60_000 }

/**
 * Registers the rate limit in `scope` (the REST plugin), so it counts only REST requests. The
 * refusal is thrown as an HttpError, so the REST error handler answers it in the usual JSON shape.
 */
export async function registerRestRateLimit(scope: FastifyInstance, limit: RestRateLimit, metrics: LimitMetrics): Promise<void> {
  if (limit.max <= 0) return
  await scope.register(rateLimit, {
    max: limit.max,
    timeWindow: limit.windowMs,
    onExceeded: () => metrics.limitRejected('rest-rate'),
    errorResponseBuilder: (_request, context) =>
      new HttpError(429, `rate limit of ${context.max} requests per ${context.after} exceeded, retry later`),
  })
}

/** `origins`: exact origins (`https://app.example`), or `*` for any; empty leaves CORS off. */
export async function registerCors(app: FastifyInstance, origins: string[]): Promise<void> {
  if (origins.length === 0) return
  await app.register(cors, { origin: origins.includes('*') ? '*' : origins })
}
