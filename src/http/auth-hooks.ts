/**
 * REST and page authentication as Fastify hooks: `Authorization: Bearer <JWT>` (or `?token=`
 * where a browser cannot set headers: the dashboard page and its EventSource stream). Reads need
 * `read`, writes (POST: updates, versions, restore) need `write`, DELETE and the routes marked
 * `adminOnly` (backup, restore of a backup, compaction) need the admin role.
 * Failures are the REST error shape: 401 for a missing, invalid or expired token, 403 for a
 * forbidden document, 503 while the key server cannot be reached.
 *
 * The admitted principal is a request decoration (`request.quirePrincipal`), declared in each
 * plugin that uses these hooks, so it never leaks into the host app's own requests.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AuthError, type Authenticator } from '../auth/authenticator.js'
import type { AuthMetrics } from '../auth/auth-metrics.js'
import { ANONYMOUS, accessTo, type Principal } from '../auth/permissions.js'
import type { AuthSetup } from '../auth/setup.js'
import { validateDocumentName } from '../protocol/document-name.js'
import { errorBody } from './errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The principal an auth hook admitted; null without authentication (see principalOf). */
    quirePrincipal: Principal | null
  }
  interface FastifyContextConfig {
    /**
     * Only an admin token may call this route, whatever its method and document; the text says
     * what it does, for the 403: "backing up every document".
     */
    adminOnly?: string
  }
}

/** An async onRequest hook: answers the refusal itself, or returns to let the request through. */
export type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>

const PRINCIPAL = 'quirePrincipal'

/** Declares `request.quirePrincipal` in `scope` (once; children inherit it). Call before adding routes. */
export function decoratePrincipal(scope: FastifyInstance): void {
  if (!scope.hasRequestDecorator(PRINCIPAL)) scope.decorateRequest(PRINCIPAL, null)
}

/** The principal the guard admitted for this request; anonymous read-write without a guard. */
export function principalOf(request: FastifyRequest): Principal {
  return request.quirePrincipal ?? ANONYMOUS
}

export function requestToken(request: FastifyRequest, { allowQuery = false } = {}): string | undefined {
  const header = request.headers.authorization
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
  if (match) return match[1]
  if (!allowQuery) return undefined
  // `?token=a&token=b` parses as an array: not a token.
  const token = (request.query as Record<string, unknown> | undefined)?.token
  return typeof token === 'string' ? token : undefined
}

function deny(reply: FastifyReply, metrics: AuthMetrics, status: 401 | 403 | 503, message: string): FastifyReply {
  metrics.rejected(status)
  if (status === 401) reply.header('www-authenticate', 'Bearer')
  return reply.code(status).type('application/json; charset=utf-8').send(errorBody(status, message))
}

type Need = 'read' | 'write' | 'admin'

function needOf(method: string): Need {
  if (method === 'GET' || method === 'HEAD') return 'read'
  return method === 'DELETE' ? 'admin' : 'write'
}

/** Verifies the token; on failure answers the refusal and resolves undefined. */
async function authenticate(auth: Authenticator, metrics: AuthMetrics, request: FastifyRequest, reply: FastifyReply, allowQuery: boolean): Promise<Principal | undefined> {
  try {
    const principal = await auth.verify(requestToken(request, { allowQuery }))
    request.quirePrincipal = principal
    return principal
  } catch (error) {
    if (error instanceof AuthError) deny(reply, metrics, error.status, error.message)
    else deny(reply, metrics, 401, 'invalid token')
    return undefined
  }
}

/** onRequest hook for the REST routes: authenticates, then checks the `:name` document if any. */
export function restGuard(auth: Authenticator, metrics: AuthMetrics): Guard {
  return async (request, reply) => {
    if (!auth.enabled) return
    const principal = await authenticate(auth, metrics, request, reply, false)
    if (!principal) return reply
    const adminOnly = request.routeOptions.config?.adminOnly
    if (adminOnly !== undefined) return principal.admin ? undefined : deny(reply, metrics, 403, `${adminOnly} needs the admin role`)
    const raw = (request.params as { name?: string } | undefined)?.name
    if (raw === undefined) return // the list: filtered by principal in the handler
    const need = needOf(request.method)
    if (need === 'admin') {
      if (!principal.admin) return deny(reply, metrics, 403, 'deleting documents needs the admin role')
      return
    }
    // An invalid name is left to the route, which answers 400.
    try {
      validateDocumentName(raw)
    } catch {
      return
    }
    const access = accessTo(principal, raw)
    if (access === 'none' || (need === 'write' && access === 'read')) {
      return deny(reply, metrics, 403, `no ${need} access to document ${JSON.stringify(raw)}`)
    }
  }
}

/** onRequest hook for /admin and its event stream: an admin token, by header or `?token=`. */
export function adminGuard(auth: Authenticator, metrics: AuthMetrics): Guard {
  return async (request, reply) => {
    if (!auth.enabled) return
    const principal = await authenticate(auth, metrics, request, reply, true)
    if (!principal) return reply
    if (!principal.admin) return deny(reply, metrics, 403, 'the dashboard needs the admin role')
  }
}

/** The guards for an auth setup; none when authentication is off. */
export function authHooks(setup: AuthSetup): { restGuard?: Guard; adminGuard?: Guard } {
  if (!setup.metrics || !setup.authenticator.enabled) return {}
  return { restGuard: restGuard(setup.authenticator, setup.metrics), adminGuard: adminGuard(setup.authenticator, setup.metrics) }
}
