/**
 * REST and page authentication: `Authorization: Bearer <JWT>` (or `?token=` where a browser
 * cannot set headers: the dashboard page and its EventSource stream). Reads need `read`, writes
 * (POST: updates, versions, restore) need `write`, DELETE needs the admin role. Failures are the
 * REST error shape: 401 for a missing, invalid or expired token, 403 for a forbidden document.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'

/** An async onRequest hook: answers 401/403 itself, or returns to let the request through. */
export type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>
import { errorBody } from '../http/errors.js'
import { validateDocumentName } from '../protocol/document-name.js'
import type { DocInfo, DocStore } from '../storage/doc-store.js'
import { AuthError, type Authenticator } from './authenticator.js'
import type { AuthMetrics } from './auth-metrics.js'
import { ANONYMOUS, accessTo, type Principal } from './permissions.js'

const principals = new WeakMap<object, Principal>()

/** The principal the guard admitted for this request; anonymous read-write without a guard. */
export function principalOf(request: FastifyRequest): Principal {
  return principals.get(request.raw) ?? ANONYMOUS
}

export function requestToken(request: FastifyRequest, { allowQuery = false } = {}): string | undefined {
  const header = request.headers.authorization
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
  if (match) return match[1]
  if (allowQuery) return (request.query as Record<string, unknown> | undefined)?.token as string | undefined
  return undefined
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

/** onRequest hook for the REST routes: authenticates, then checks the `:name` document if any. */
export function restGuard(auth: Authenticator, metrics: AuthMetrics): Guard {
  return async (request, reply) => {
    if (!auth.enabled) return
    let principal: Principal
    try {
      principal = await auth.verify(requestToken(request))
    } catch (error) {
      return error instanceof AuthError ? deny(reply, metrics, error.status, error.message) : deny(reply, metrics, 401, 'invalid token')
    }
    principals.set(request.raw, principal)
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
    let principal: Principal
    try {
      principal = await auth.verify(requestToken(request, { allowQuery: true }))
    } catch (error) {
      return error instanceof AuthError ? deny(reply, metrics, error.status, error.message) : deny(reply, metrics, 401, 'invalid token')
    }
    if (!principal.admin) return deny(reply, metrics, 403, 'the dashboard needs the admin role')
  }
}

/**
 * A page of stored documents the principal may read: pages through the store until `limit`
 * readable ones are found, so hidden documents never shorten a page or leak through its size.
 */
export async function listReadable(
  store: DocStore,
  principal: Principal,
  query: { prefix: string; after?: string; limit: number },
): Promise<DocInfo[]> {
  if (principal.admin) return store.list(query)
  const found: DocInfo[] = []
  let after = query.after
  for (;;) {
    const page = await store.list({ prefix: query.prefix, after, limit: Math.max(query.limit, 100) })
    for (const info of page) if (accessTo(principal, info.name) !== 'none' && found.push(info) === query.limit) return found
    if (page.length === 0) return found
    after = page.at(-1)!.name
    if (page.length < Math.max(query.limit, 100)) return found
  }
}
