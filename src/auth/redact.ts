/**
 * Fastify logs every request's URL; `/admin?token=<JWT>` would put an admin token in the logs.
 * This wraps the logger options with a request serializer (Fastify's own fields) that redacts it.
 */
import type { FastifyServerOptions } from 'fastify'

export const redactToken = (url: string | undefined): string | undefined => url?.replace(/([?&]token=)[^&#]*/g, '$1[redacted]')

interface LoggedRequest {
  method?: string
  url?: string
  headers?: Record<string, unknown>
  host?: string
  ip?: string
  socket?: { remotePort?: number }
}

export function redactingLogger(logger: FastifyServerOptions['logger']): FastifyServerOptions['logger'] {
  if (!logger) return logger
  const options = (logger === true ? {} : logger) as Exclude<FastifyServerOptions['logger'], boolean | undefined> & { serializers?: Record<string, unknown> }
  const req = (r: LoggedRequest) => ({
    method: r.method,
    url: redactToken(r.url),
    version: r.headers?.['accept-version'],
    host: r.host,
    remoteAddress: r.ip,
    remotePort: r.socket?.remotePort,
  })
  return { ...options, serializers: { req, ...options.serializers } } as FastifyServerOptions['logger']
}
