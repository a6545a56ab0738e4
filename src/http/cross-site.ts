/**
 * Defences against requests a web page on another site makes with the user's browser: the
 * Origin allow-list (auth/origins.ts) for the REST API and the admin pages, and the rule that a
 * state-changing request must be one a browser cannot send cross-site without a CORS preflight.
 *
 * Why both: CORS only hides responses from a page; it does not stop a "simple" request (GET,
 * HEAD, or POST with no body or a text/plain, form or multipart body) from reaching the server and
 * taking effect. A page on any site could otherwise POST `…/versions/:id/restore` with a plain
 * form. Requiring another Content-Type makes the browser ask first (preflight), which only the
 * origins CORS lists pass; the Origin check refuses what slips through from other sites anyway.
 */
import type { FastifyReply } from 'fastify'
import type { OriginCheck } from '../auth/origins.js'
import type { Guard } from './auth-hooks.js'
import { errorBody } from './errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The media type a state-changing route expects, named in the 415 a simple request gets. Default application/json. */
    bodyType?: string
  }
}

function refuse(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(errorBody(status, message))
}

/** onRequest hook: 403 for a request whose Origin the check refuses. */
export function originHook(originAllowed: OriginCheck): Guard {
  return async (request, reply) => {
    const { origin, host } = request.headers
    if (originAllowed(origin, host)) return
    request.log.info({ origin }, 'request from a refused origin')
    // The header is the caller's text: echoed (as JSON) only up to a sane length.
    return refuse(reply, 403, `origin ${JSON.stringify(origin?.slice(0, 200))} is not allowed (see --allowed-origins)`)
  }
}

/**
 * Media types a page may send cross-site without a preflight (the Fetch standard's
 * CORS-safelisted Content-Type values), compared by essence: `text/plain;charset=UTF-8` counts.
 */
const SIMPLE_BODY_TYPES = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data'])

/** True when a POST with this Content-Type needs no preflight: missing, or one of the safelisted three. */
export function isSimpleBodyType(contentType: string | undefined): boolean {
  if (contentType === undefined) return true
  const essence = contentType.split(';', 1)[0]!.trim().toLowerCase()
  return essence === '' || SIMPLE_BODY_TYPES.has(essence)
}

/**
 * onRequest hook: refuses (415) a POST without a Content-Type or with a safelisted one, before
 * its body is read. PUT, PATCH and DELETE always need a preflight, so only POST is checked; the
 * rule holds with or without an Origin header, so that what curl can do a browser page can too
 * only after a preflight.
 */
export const preflightedWrites: Guard = async (request, reply) => {
  if (request.method !== 'POST' || !isSimpleBodyType(request.headers['content-type'])) return
  const expected = request.routeOptions.config?.bodyType ?? 'application/json'
  const sent = request.headers['content-type'] === undefined ? 'none' : JSON.stringify(request.headers['content-type'])
  return refuse(
    reply,
    415,
    `send this POST with Content-Type: ${expected} (got ${sent}): text/plain, form and multipart bodies, and none at all, are refused because any web page can send them cross-site without a CORS preflight`,
  )
}
