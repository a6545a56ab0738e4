/**
 * Fastify logs every request's URL; `/admin?token=<JWT>` would put an admin token in the logs.
 * This wraps the logger options with a request serializer (Fastify's own fields) that redacts it.
 */
import type { FastifyServerOptions } from 'fastify'

/**
 * The URL with the value of every `token` query parameter replaced by `[redacted]`. Parameter
 * names are compared after decoding them as the query parser does (percent-escapes, `+` as
 * space), since `?%74oken=<JWT>` reaches the route as `token` too; a literal match on `token=`
 * would log it in clear.
 */
export function redactToken(url: string | undefined): string | undefined {
  if (url === undefined) return undefined
  const start = url.indexOf('?')
  if (start < 0) return url
  const end = url.indexOf('#', start)
  const query = url.slice(start + 1, end < 0 ? undefined : end)
  const redacted = query
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=')
      const name = equals < 0 ? pair : pair.slice(0, equals)
      return isTokenName(name) ? `${name}=[redacted]` : pair
    })
    .join('&')
  return url.slice(0, start + 1) + redacted + (end < 0 ? '' : url.slice(end))
}

function isTokenName(raw: string): boolean {
  const spaced = raw.replace(/\+/g, ' ')
  let name: string
  try {
    name = decodeURIComponent(spaced)
  } catch {
    // Malformed escapes: decode the well-formed ones, as a lenient parser would.
    name = spaced.replace(/%[0-9a-f]{2}/gi, (escape) => String.fromCharCode(parseInt(escape.slice(1), 16)))
  }
  // Case and surrounding space ignored: redacting one parameter too many costs nothing.
  return name.trim().toLowerCase() === 'token'
}

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
