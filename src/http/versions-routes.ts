/**
 * Named versions over REST: save the current state with a label, list, export one like a
 * document, and restore one as a new edit that live peers receive. Saving and restoring are
 * reported to the registry's observers (change events) before the client gets its answer.
 */
import * as Y from 'yjs'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { restoreUpdate } from '../content/restore.js'
import type { RoomRegistry } from '../room/registry.js'
import type { DocStore, VersionInfo } from '../storage/doc-store.js'
import { documentName, documentNotFound, editDocumentAt, readDocumentAt, readVersion, withVersionDoc } from './documents.js'
import { notFound } from './errors.js'
import * as s from './schemas.js'
import { registerExports } from './export-routes.js'
import { principalOf, type Guard } from './auth-hooks.js'

export interface VersionsRoutesOptions {
  registry: RoomRegistry
  store: DocStore
  guard?: Guard
}

const tags = ['versions']

const versionJson = (info: VersionInfo) => ({ ...info, createdAt: new Date(info.createdAt).toISOString() })

/** Who asked, for version events: the token's subject, when there is one. */
const subjectOf = (request: FastifyRequest) => {
  const sub = principalOf(request).sub
  return sub === undefined ? {} : { subject: sub }
}

export const versionsRoutes: FastifyPluginAsync<VersionsRoutesOptions> = async (app, { registry, store, guard }) => {
  if (guard) app.addHook('onRequest', guard)
  app.post<{ Params: s.NameParams; Body: { label: string } }>('/docs/:name/versions', {
    schema: {
      tags,
      summary: 'Save the current state as a version',
      params: s.nameParams,
      body: s.versionBody,
      response: { 201: { ...s.versionResponse, description: 'Saved' }, ...s.errors(400, 404, 415, 503) },
    },
  }, async (request, reply) => {
    const name = documentName(request.params.name)
    const { result: state, seq } = await readDocumentAt(registry, store, name, (doc) => Y.encodeStateAsUpdate(doc))
    // Null if nothing is stored: a loaded document nobody edited, or one deleted meanwhile.
    const info = await store.versions.create(name, request.body.label, state)
    if (!info) throw notFound(`document ${JSON.stringify(name)} has nothing stored`)
    await registry.versionCreated({ name, version: info, ...(seq !== undefined && { seq }), ...subjectOf(request) })
    return reply.code(201).send(versionJson(info))
  })

  app.get<{ Params: s.NameParams }>('/docs/:name/versions', {
    schema: {
      tags,
      summary: 'List versions',
      params: s.nameParams,
      response: { 200: s.versionList, ...s.errors(400, 404) },
    },
  }, async (request) => {
    const name = documentName(request.params.name)
    const versions = await store.versions.list(name)
    if (versions.length === 0 && !(await store.info(name)) && !registry.get(name)) throw documentNotFound(name)
    return { versions: versions.map(versionJson) }
  })

  app.get<{ Params: s.VersionParams }>('/docs/:name/versions/:id', {
    schema: {
      tags,
      summary: 'Version metadata',
      params: s.versionParams,
      response: { 200: s.versionResponse, ...s.errors(400, 404) },
    },
  }, async (request) => {
    const { info } = await readVersion(store, documentName(request.params.name), request.params.id)
    return versionJson(info)
  })

  registerExports(app, {
    path: '/docs/:name/versions/:id',
    params: s.versionParams,
    tags,
    subject: 'a version',
    read: async (name, { id }, use) => withVersionDoc(await readVersion(store, name, id!), use),
    storedState: async (name, { id }) => (await readVersion(store, name, id!)).state,
  })

  app.post<{ Params: s.VersionParams; Body: Record<string, never> }>('/docs/:name/versions/:id/restore', {
    schema: {
      tags,
      summary: 'Make the document equal a version again',
      description: 'A new edit on top of the current state, stored and relayed to live connections: content added since the version is deleted, content deleted since is inserted again. History is kept; restoring is itself undoable by restoring a later version. The body is the empty JSON object `{}` sent as `application/json`: a request without it (or as text/plain or a form) is refused with 415, because a web page on any site could send that one without a CORS preflight.',
      params: s.versionParams,
      body: s.restoreBody,
      response: { 200: { ...s.stateVectorResponse, description: 'Restored and durable; the state vector right after it' }, ...s.errors(400, 404, 409, 415, 503) },
    },
  }, async (request) => {
    const name = documentName(request.params.name)
    const version = await readVersion(store, name, request.params.id)
    const { stateVector, seq } = await editDocumentAt(registry, name, (doc) => restoreUpdate(doc, version.state))
    await registry.versionRestored({ name, version: version.info, seq, ...subjectOf(request) })
    return stateVector
  })
}
