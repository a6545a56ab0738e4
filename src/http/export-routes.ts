/**
 * The three exports every readable thing offers — `/update` (v1/v2, optionally a diff by state
 * vector), `/json` and `/text` — registered once for live documents and once for versions.
 */
import type * as Y from 'yjs'
import type { FastifyInstance } from 'fastify'
import { encodeUpdate, fromBase64url, parseStateVector } from '../content/codec.js'
import { documentName, jsonExport, keyNotFound, sendBytes, sendJsonText, sendText, textExport } from './documents.js'
import * as s from './schemas.js'

/** Route parameters of a document (`name`) or a version of it (`name`, `id`). */
export interface ExportParams {
  name: string
  id?: number
}

export interface ExportSource {
  /** Route path the exports hang below, e.g. `/docs/:name`. */
  path: string
  params: object
  tags: string[]
  /** What is exported, for the OpenAPI summaries: "the document", "a version". */
  subject: string
  /** Runs `use` on the content named by the (decoded) route parameters. */
  read<T>(name: string, params: ExportParams, use: (doc: Y.Doc) => T): Promise<T>
  /** The stored full state as a v1 update, when there is one to send without re-encoding. */
  storedState?(name: string, params: ExportParams): Promise<Uint8Array>
}

export function registerExports(app: FastifyInstance, source: ExportSource): void {
  const { path, params, tags, subject } = source

  app.get<{ Params: ExportParams; Querystring: s.ExportQuery }>(`${path}/update`, {
    schema: {
      tags,
      summary: `Export ${subject} as a Yjs update`,
      description: 'The full state, or with `sv` only what a holder of that state vector lacks (apply it with `Y.applyUpdate`).',
      params,
      querystring: s.exportQuery,
      response: { 200: s.binary('Yjs update in the requested format'), ...s.errors(400, 404) },
    },
  }, async (request, reply) => {
    const name = documentName(request.params.name)
    const { encoding, sv } = request.query
    const stateVector = sv === undefined ? undefined : parseStateVector(fromBase64url(sv, 'sv'))
    if (source.storedState && encoding === 'v1' && !stateVector) return sendBytes(reply, await source.storedState(name, request.params))
    return sendBytes(reply, await source.read(name, request.params, (doc) => encodeUpdate(doc, stateVector, encoding)))
  })

  app.get<{ Params: ExportParams; Querystring: s.KeyQuery }>(`${path}/json`, {
    schema: {
      tags,
      summary: `Export top-level shared types of ${subject} as JSON`,
      description: 'An object with every top-level type, or with `key` that type alone. Kinds are inferred: Y.Text → string, Y.Map → object, Y.Array → array, Y.XmlFragment → ProseMirror-style `{type: "doc", content}`; a type with no content to infer from → null.',
      params,
      querystring: s.jsonQuery,
      response: { 200: s.anyJson('The JSON export'), ...s.errors(400, 404) },
    },
  }, async (request, reply) => {
    const name = documentName(request.params.name)
    const { key } = request.query
    const json = await source.read(name, request.params, (doc) => jsonExport(doc, key))
    if (json === null) throw keyNotFound(name, key ?? '')
    return sendJsonText(reply, json)
  })

  app.get<{ Params: ExportParams; Querystring: { key: string } }>(`${path}/text`, {
    schema: {
      tags,
      summary: `Export a Y.Text or Y.XmlFragment of ${subject} as plain text`,
      description: 'An XmlFragment gives its text nodes in order, block elements separated by newlines. 400 for a Y.Map or Y.Array.',
      params,
      querystring: s.textQuery,
      response: { 200: s.plainText('The text'), ...s.errors(400, 404) },
    },
  }, async (request, reply) => {
    const name = documentName(request.params.name)
    const { key } = request.query
    const text = await source.read(name, request.params, (doc) => textExport(doc, key))
    if (text === null) throw keyNotFound(name, key)
    return sendText(reply, text)
  })
}
