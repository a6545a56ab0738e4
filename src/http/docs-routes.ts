/**
 * Documents over REST: list, metadata, the caller's access, export (full, diff by state vector, v1/v2, JSON, text),
 * server edits and deletion. Mounted under `<basePath>/api`.
 */
import type { FastifyPluginAsync } from 'fastify'
import { fromBase64url, stateVectorJson, toBase64url } from '../content/codec.js'
import { checkUpdate, toV1 } from '../content/update.js'
import type { RoomRegistry } from '../room/registry.js'
import type { DocStore } from '../storage/doc-store.js'
import { documentJson, documentName, documentNotFound, editDocument, readDocument } from './documents.js'
import { HttpError } from './errors.js'
import * as s from './schemas.js'
import { registerExports } from './export-routes.js'
import { listReadable } from '../auth/readable.js'
import { principalOf, type Guard } from './auth-hooks.js'
import { accessTo } from '../auth/permissions.js'

export interface DocsRoutesOptions {
  registry: RoomRegistry
  store: DocStore
  /** Largest accepted update body; larger ones get 413. */
  maxBodyBytes: number
  guard?: Guard
}

const tags = ['documents']

export const docsRoutes: FastifyPluginAsync<DocsRoutesOptions> = async (app, { registry, store, maxBodyBytes, guard }) => {
  if (guard) app.addHook('onRequest', guard)
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))

  app.get<{ Querystring: s.ListQuery }>('/docs', {
    schema: {
      tags,
      summary: 'List stored documents',
      description: 'Paged, in name order (UTF-8 bytes). With authentication on, only documents the token may read (all for an admin). Reads only metadata, never document contents. Documents that are loaded but have nothing stored yet are not listed.',
      querystring: s.listQuery,
      response: { 200: s.documentList, ...s.errors(400) },
    },
  }, async (request) => {
    const { prefix = '', limit, cursor } = request.query
    const after = cursor === undefined ? undefined : decodeCursor(cursor, prefix)
    const found = await listReadable(store, principalOf(request), { prefix, after, limit: limit + 1 }) // one more tells whether a next page exists
    const docs = found.slice(0, limit).map((info) => documentJson(registry, info.name, info))
    const last = docs.at(-1)
    return { docs, ...(found.length > limit && last && { nextCursor: toBase64url(Buffer.from(last.name)) }) }
  })

  app.get<{ Params: s.NameParams }>('/docs/:name', {
    schema: {
      tags,
      summary: 'Document metadata',
      params: s.nameParams,
      response: { 200: s.documentResponse, ...s.errors(400, 404) },
    },
  }, async (request) => {
    const name = documentName(request.params.name)
    const info = await store.info(name)
    if (!info && !registry.get(name)) throw documentNotFound(name)
    return documentJson(registry, name, info)
  })

  // Editors ask before letting someone type: a read-only connection's edits are dropped silently.
  app.get<{ Params: s.NameParams }>('/docs/:name/access', {
    schema: {
      tags,
      summary: "The caller's access to a document",
      description: 'What the bearer token may do with this document, `read` or `write` (`write` with authentication off), decided as for its WebSocket connection. For editors that should turn read-only instead of letting people type edits the server drops. Answers for documents that do not exist yet; a token without access gets 403, like every route.',
      params: s.nameParams,
      response: { 200: s.accessResponse, ...s.errors(400) },
    },
  }, async (request) => {
    const name = documentName(request.params.name)
    const principal = principalOf(request)
    const access = accessTo(principal, name)
    if (access === 'none') throw new HttpError(403, `no read access to document ${JSON.stringify(name)}`) // the guard answers first; kept for safety
    return {
      name,
      access,
      ...(principal.sub !== undefined && { subject: principal.sub }),
      ...(principal.exp !== undefined && { expiresAt: new Date(principal.exp * 1000).toISOString() }),
    }
  })

  registerExports(app, {
    path: '/docs/:name',
    params: s.nameParams,
    tags,
    subject: 'the document',
    read: (name, _params, use) => readDocument(registry, name, use),
  })

  app.get<{ Params: s.NameParams }>('/docs/:name/state-vector', {
    schema: {
      tags,
      summary: 'The document state vector',
      params: s.nameParams,
      response: { 200: s.stateVectorResponse, ...s.errors(400, 404) },
    },
  }, async (request) => readDocument(registry, documentName(request.params.name), stateVectorJson))

  app.post<{ Params: s.NameParams; Querystring: { encoding: 'v1' | 'v2' } }>('/docs/:name/update', {
    bodyLimit: maxBodyBytes,
    config: { openapiBody: s.binary('A Yjs update (v1, or v2 with `encoding=v2`), as `application/octet-stream`'), bodyType: 'application/octet-stream' },
    schema: {
      tags,
      summary: 'Apply a Yjs update as a server edit',
      description: 'Stored, then relayed to every live connection, like an update from a client. Creates the document if it does not exist. Checked before anything changes: an update Yjs cannot apply completely (malformed, or depending on changes the document lacks) is refused with 400 and changes nothing.',
      params: s.nameParams,
      querystring: s.encodingQuery,
      response: { 200: { ...s.stateVectorResponse, description: 'Applied and durable; the state vector right after it' }, ...s.errors(400, 409, 413, 415, 503) },
    },
  }, async (request) => {
    const name = documentName(request.params.name)
    if (!Buffer.isBuffer(request.body)) throw new HttpError(415, 'send the update as application/octet-stream')
    // A copy that owns its buffer: lib0 decoders read past the end of a view into a pooled one.
    const update = toV1(new Uint8Array(request.body), request.query.encoding)
    return editDocument(registry, name, (doc) => {
      checkUpdate(doc, update)
      return update
    })
  })

  app.delete<{ Params: s.NameParams }>('/docs/:name', {
    schema: {
      tags,
      summary: 'Delete a document',
      description: 'Removes its state, log and versions. Live connections are closed with 4404 "document deleted", which y-websocket does not retry.',
      params: s.nameParams,
      response: { 204: { description: 'Deleted', type: 'null' }, ...s.errors(400, 404, 503) },
    },
  }, async (request, reply) => {
    const name = documentName(request.params.name)
    if (!(await registry.delete(name))) throw documentNotFound(name)
    return reply.code(204).send()
  })
}

/** A cursor is the last name of the previous page, base64url; it only makes sense with the same prefix. */
function decodeCursor(cursor: string, prefix: string): string {
  const name = Buffer.from(fromBase64url(cursor, 'cursor')).toString('utf8')
  if (!name.startsWith(prefix)) throw new HttpError(400, 'cursor does not belong to this prefix')
  return name
}
