/**
 * Routes served by a Fastify instance built on the first request that needs them, for plugins that
 * cost start-up time (their modules, files read while registering) but serve what few requests ask
 * for: Swagger UI and the OpenAPI generator, the demo's static assets. Fastify takes no routes once
 * it has started, so the app keeps a forwarding route, and the inner instance (never listening)
 * answers it through `inject`: the app's own hooks, logging, CORS and rate limit still apply, and a
 * path the inner instance has no route for gets the app's 404.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { compilersOnFirstUse } from './lazy-schemas.js'

/** Marks the inner instance's own 404, so that the app answers it with its not-found handler. */
const NOT_FOUND = 'x-quire-inner-not-found'
/** Connection-level headers of the inner response, and its length: the app's reply sets its own. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date', 'content-length', NOT_FOUND])

export type LazyInstance = () => Promise<FastifyInstance>

/**
 * An inner instance, routing URLs as `app` does, set up by `setup` on the first call and closed
 * with `app`. A failed setup is retried on the next call.
 */
export function lazyInstance(app: FastifyInstance, setup: (inner: FastifyInstance) => Promise<void>, options: FastifyServerOptions = {}): LazyInstance {
  let built: Promise<FastifyInstance> | undefined
  const { routerOptions, ...config } = app.initialConfig
  const build = async () => {
    const inner = Fastify({
      ...options,
      // Only our routes live here: no reason to load Ajv before one of them needs it.
      schemaController: { compilersFactory: compilersOnFirstUse },
      routerOptions: {
        caseSensitive: config.caseSensitive,
        ignoreTrailingSlash: config.ignoreTrailingSlash,
        ignoreDuplicateSlashes: config.ignoreDuplicateSlashes,
        maxParamLength: config.maxParamLength,
        ...routerOptions,
      },
    })
    inner.setNotFoundHandler((_request, reply) => reply.code(404).header(NOT_FOUND, '1').send())
    await setup(inner)
    await inner.ready()
    return inner
  }
  app.addHook('onClose', async () => {
    await (await built?.catch(() => undefined))?.close()
  })
  return () =>
    (built ??= build().catch((error: unknown) => {
      built = undefined
      throw error
    }))
}

/** A GET handler answering from the inner instance (HEAD too: Fastify strips the body). */
export function forwardTo(instance: LazyInstance) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const response = await (await instance()).inject({ method: 'GET', url: request.url, headers: request.headers })
    if (response.headers[NOT_FOUND] !== undefined) {
      reply.callNotFound()
      return reply
    }
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined && !NOT_FORWARDED.has(name)) reply.header(name, value)
    }
    reply.code(response.statusCode)
    // An empty body (a redirect, 304) is sent as none: a Buffer would get a content-type.
    return response.rawPayload.length > 0 ? reply.send(response.rawPayload) : reply.send()
  }
}
