/**
 * REST errors: every failure is JSON `{statusCode, error, message}`. Input the client controls
 * maps to 4xx — schema validation, bad document names, bytes Yjs refuses, oversized or
 * mistyped bodies, unknown documents and versions; only the server's own faults are 5xx.
 */
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { InvalidInputError } from '../content/errors.js'
import { ProtocolError } from '../protocol/close-codes.js'
import { ShuttingDownError } from '../room/registry.js'
import { LimitError } from '../limits/limits.js'

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

export const notFound = (message: string) => new HttpError(404, message)

export interface ErrorBody {
  statusCode: number
  error: string
  message: string
}

export const errorBody = (statusCode: number, message: string): ErrorBody => ({
  statusCode,
  error: STATUS_CODES[statusCode] ?? 'Error',
  message,
})

export function statusOf(error: Error): number {
  if (error instanceof HttpError) return error.statusCode
  // A document quota refuses the body (413); the other limits (loaded rooms) pass with time (503).
  if (error instanceof LimitError) return error.limit === 'document-size' ? 413 : 503
  // ProtocolError reaches REST only from validateDocumentName.
  if (error instanceof InvalidInputError || error instanceof ProtocolError) return 400
  if (error instanceof ShuttingDownError) return 503
  if ((error as FastifyError).validation) return 400
  // Fastify's own client errors: 413 body too large, 415 media type, 400 malformed JSON…
  const status = (error as FastifyError).statusCode
  return typeof status === 'number' && status >= 400 && status < 500 ? status : 500
}

export function handleError(error: Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = statusOf(error)
  if (status >= 500 && status !== 503) request.log.error({ err: error }, 'REST request failed')
  const message =
    status >= 500 && status !== 503
      ? 'internal error'
      : (error as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `body larger than ${request.routeOptions.bodyLimit} bytes`
        : error.message
  return reply.code(status).type('application/json; charset=utf-8').send(errorBody(status, message))
}
