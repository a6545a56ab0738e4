/**
 * The SSE transport's HTTP side (docs/sse.md), mounted with the REST API under `<basePath>/api`:
 *
 * - `GET /docs/:name/events`: the document as an event stream (transport/sse.ts);
 * - `POST /docs/:name/awareness?stream=<id>`: an awareness update on behalf of an open stream,
 *   on this instance or, with several, on another (forwarded over the cluster bus).
 *
 * Document updates go through the REST API's own `POST /docs/:name/update`. Authentication is
 * the REST API's (read for the stream, write for the POST), except that the token may also come
 * as `?token=`: an EventSource cannot set headers.
 */
import type { OutgoingHttpHeaders } from 'node:http'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { fromBase64url, parseStateVector } from '../content/codec.js'
import { accessTo } from '../auth/permissions.js'
import { LimitError } from '../limits/limits.js'
import { httpStatusOf, type SseTransport } from '../transport/sse.js'
import { requestToken, type Guard } from './auth-hooks.js'
import { documentName } from './documents.js'
import { HttpError, errorBody } from './errors.js'
import * as s from './schemas.js'

export interface SseRoutesOptions {
  sse: SseTransport
  /** Largest accepted awareness body. */
  maxBodyBytes: number
  guard?: Guard
  /**
   * Several instances (docs/cluster.md): sends an awareness update for a stream this instance
   * does not hold to the instance that does. Absent: such a POST is answered 404.
   */
  forwardAwareness?: (name: string, stream: string, update: Uint8Array) => void
  /** Largest awareness update forwarded: what a stream may announce (its ids × their largest state), not the body limit. */
  maxForwardedAwarenessBytes?: number
}

interface EventsQuery {
  sv?: string
  lastEventId?: string
  token?: string
}

interface AwarenessQuery {
  stream: string
  token?: string
}

const tags = ['documents']
const errorRef = { $ref: 'QuireError#' }

const eventsQuery = {
  type: 'object',
  properties: {
    sv: { type: 'string', description: 'State vector, base64url: the `sync` event then carries only what its holder lacks' },
    lastEventId: {
      type: 'string',
      description: 'Resume after this event id (a sequence number), for clients that cannot send the `Last-Event-ID` header; the header wins',
    },
    token: { type: 'string', description: 'The bearer token, for clients that cannot send an Authorization header (EventSource)' },
  },
}

const awarenessQuery = {
  type: 'object',
  required: ['stream'],
  properties: {
    stream: { type: 'string', maxLength: 64, description: 'The `stream` of the event stream\'s `sync` event: its awareness client ids are announced on that stream\'s behalf' },
    token: { type: 'string', description: 'The bearer token, if not sent as an Authorization header' },
  },
}

/** A guard that also takes the token from `?token=`, when no Authorization header is sent. */
function withQueryToken(guard: Guard): Guard {
  return async (request, reply) => {
    if (request.headers.authorization === undefined) {
      const token = requestToken(request, { allowQuery: true })
      if (token !== undefined) request.headers.authorization = `Bearer ${token}`
    }
    return guard(request, reply)
  }
}

/** `Last-Event-ID` (header, else query): a sequence number, or undefined. */
function lastEventIdOf(request: FastifyRequest<{ Querystring: EventsQuery }>): number | undefined {
  const header = request.headers['last-event-id']
  const raw = (Array.isArray(header) ? header[0] : header)?.trim() || request.query.lastEventId?.trim()
  if (!raw) return undefined
  if (!/^\d{1,15}$/.test(raw)) throw new HttpError(400, 'Last-Event-ID must be an event id this server sent (a sequence number)')
  return Number(raw)
}

export const sseRoutes: FastifyPluginAsync<SseRoutesOptions> = async (app, { sse, maxBodyBytes, guard, forwardAwareness, maxForwardedAwarenessBytes = maxBodyBytes }) => {
  if (guard) app.addHook('onRequest', withQueryToken(guard))
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))

  app.get<{ Params: s.NameParams; Querystring: EventsQuery }>('/docs/:name/events', {
    // A HEAD would run the handler and open a stream with no body to carry it.
    exposeHeadRoute: false,
    schema: {
      tags,
      summary: 'The document as a Server-Sent Events stream',
      description:
        'Events: `sync` first (JSON: `stream` id, `seq`, the server\'s `stateVector` and the `update` the client lacks, base64), then `update` (a Yjs v1 update, base64; `id:` is its sequence number) and `awareness` (a y-protocols awareness update, base64), a comment every 15 s, and `close` (JSON `{code, error, reason}`) when the server ends the stream. `Last-Event-ID` resumes with exactly the updates stored since, or with a `sync` when they were compacted away. Send updates with `POST …/update`, awareness with `POST …/awareness?stream=`. See docs/sse.md.',
      params: s.nameParams,
      querystring: eventsQuery,
      headers: {
        type: 'object',
        properties: { 'last-event-id': { type: 'string', description: 'Resume after this event id' } },
      },
      response: {
        200: { description: 'The event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
        ...s.errors(400, 503),
      },
    },
  }, (request, reply) => {
    const name = documentName(request.params.name)
    const { sv } = request.query
    const stateVector = sv === undefined ? undefined : parseStateVector(fromBase64url(sv, 'sv'))
    const lastEventId = lastEventIdOf(request)
    if (!sse.isAccepting) throw new HttpError(503, 'server shutting down')
    const admitted = sse.admit(request.ip)
    if (admitted instanceof LimitError) {
      return reply.code(503).header('retry-after', '5').type('application/json; charset=utf-8').send(errorBody(503, admitted.message))
    }
    const principal = request.quirePrincipal
    reply.hijack()
    sse.open({
      name,
      request: request.raw,
      response: reply.raw,
      release: admitted,
      lastEventId,
      stateVector,
      ...(principal && { principal, readOnly: accessTo(principal, name) === 'read' }),
      headers: reply.getHeaders() as OutgoingHttpHeaders,
    })
  })

  app.post<{ Params: s.NameParams; Querystring: AwarenessQuery }>('/docs/:name/awareness', {
    bodyLimit: maxBodyBytes,
    config: {
      openapiBody: s.binary('A y-protocols awareness update (`encodeAwarenessUpdate`), as `application/octet-stream`'),
      bodyType: 'application/octet-stream',
      // Limited per stream like a WebSocket's messages (--messages-per-second), not per address:
      // a user moving a cursor would otherwise spend the address's REST budget.
      rateLimit: { allowList: (request: FastifyRequest) => liveStream(sse, request) },
    },
    schema: {
      tags,
      summary: 'Announce awareness (cursor, presence) for an event stream',
      description:
        'Applied as if the stream were a WebSocket connection: the client ids it announces belong to that stream while it is open and are removed when it closes; ids another connection owns are ignored. A refused update (malformed, too large, too many ids, too many messages) also ends the stream, whose client reconnects.',
      params: s.nameParams,
      querystring: awarenessQuery,
      response: {
        204: { description: 'Applied (entries for ids other connections own are dropped)', type: 'null' },
        202: {
          description: 'Several instances: the stream is not open on this one, so the update went to the instance holding it, which applies it as above (a refusal ends the stream there)',
          type: 'null',
        },
        ...s.errors(400, 413, 415, 503),
        404: { description: 'No open event stream with this id for this document', ...errorRef },
        500: { description: 'Internal error', ...errorRef },
      },
    },
  }, async (request, reply) => {
    const name = documentName(request.params.name)
    if (!Buffer.isBuffer(request.body)) throw new HttpError(415, 'send the awareness update as application/octet-stream')
    const stream = sse.get(request.query.stream)
    if (!stream && forwardAwareness) {
      // Every instance with the document receives it: a body only the limit of the REST API bounds must not reach the bus.
      if (request.body.byteLength > maxForwardedAwarenessBytes) {
        throw new HttpError(413, `an awareness update for a stream on another instance may hold ${maxForwardedAwarenessBytes} bytes at most`)
      }
      // Which instance holds the stream only that one knows.
      forwardAwareness(name, request.query.stream, request.body)
      return reply.code(202).send()
    }
    if (!stream || stream.name !== name || !stream.isLive) {
      throw new HttpError(404, `no open event stream ${JSON.stringify(request.query.stream.slice(0, 64))} for this document: open …/events and use the stream of its sync event`)
    }
    const refused = stream.receiveAwareness(request.body)
    if (refused) throw new HttpError(httpStatusOf(refused.code), refused.reason)
    return reply.code(204).send()
  })
}

/** True when the request names an open stream of its document. */
function liveStream(sse: SseTransport, request: FastifyRequest): boolean {
  const stream = sse.get((request.query as { stream?: unknown } | undefined)?.stream as string | undefined)
  return stream !== undefined && stream.isLive && stream.name === (request.params as { name?: string } | undefined)?.name
}
