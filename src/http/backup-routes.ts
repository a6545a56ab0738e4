/**
 * Admin routes for operators (`quire backup|restore|compact --server`), mounted under
 * `<basePath>/api`: a streamed backup of every document, restoring one, and compacting a
 * document. They need a token with the admin role when authentication is on (auth-hooks.ts);
 * without authentication they are open like the rest of the API.
 *
 * They go through the registry like every REST edit: a backup reads loaded documents from their
 * rooms (current and durable), a restore creates documents through a room (live clients receive
 * the content), a compaction holds the document's room so that no storage read sees it half done.
 * The file format and the per-document rules are shared with the offline commands (src/ops).
 */
import { Readable } from 'node:stream'
import * as Y from 'yjs'
import type { FastifyPluginAsync } from 'fastify'
import { InvalidInputError } from '../content/errors.js'
import { checkUpdate } from '../content/update.js'
import { BackupReader, BackupRecordTooLarge, backupStream } from '../ops/backup-format.js'
import { readDocuments, type DocumentSource } from '../ops/read-documents.js'
import { emptySummary, restoreDocument, tally, type RestoreTarget } from '../ops/restore-document.js'
import type { RoomRegistry } from '../room/registry.js'
import type { DocStore } from '../storage/doc-store.js'
import { principalOf, type Guard } from './auth-hooks.js'
import { documentName, documentNotFound } from './documents.js'
import { HttpError } from './errors.js'
import * as s from './schemas.js'

export interface BackupRoutesOptions {
  registry: RoomRegistry
  store: DocStore
  /** Largest accepted record of a restored backup (one content or version state). */
  maxBodyBytes: number
  guard?: Guard
}

const tags = ['admin']

export const backupRoutes: FastifyPluginAsync<BackupRoutesOptions> = async (app, { registry, store, maxBodyBytes, guard }) => {
  if (guard) app.addHook('onRequest', guard)
  // A restore body is read as it arrives, document by document: no limit on the whole body
  // (a backup may be any size), one on each record (BackupReader's maxPartBytes).
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload))

  const source: DocumentSource = {
    list: (options) => store.list(options),
    content: (name) => storedContent(registry, store, name),
    versions: store.versions,
  }
  /** Restored versions are new on this server: reported like any other (change events). */
  const targetFor = (subject: string | undefined): RestoreTarget => ({
    content: source.content,
    versions: {
      list: (name) => store.versions.list(name),
      read: (name, id) => store.versions.read(name, id),
      create: async (name, label, state) => {
        const info = await store.versions.create(name, label, state)
        if (info) await registry.versionCreated({ name, version: info, ...(subject !== undefined && { subject }) })
        return info
      },
    },
    create: (name, content) => createDocument(registry, store, name, content),
  })

  app.get('/backup', {
    config: { adminOnly: 'backing up every document' },
    schema: {
      tags,
      summary: 'Back up every document with its versions',
      description: 'The backup file `quire backup` writes (format: docs/operations.md, "Backup and restore"), streamed document by document in name order: each document complete, with its content as it is at one moment and every version. Documents deleted while the backup runs are left out. If the server fails midway the response ends without the end record, which `quire restore` refuses. Needs the admin role when authentication is on.',
      response: { 200: s.binary('The backup file'), ...s.errors(503) },
    },
  }, async (request, reply) => {
    const stream = Readable.from(backupStream(readDocuments(source)), { objectMode: false })
    stream.on('error', (error) => request.log.error({ err: error }, 'backup stopped midway; the client got a backup without its end record'))
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    return reply.type('application/octet-stream').header('content-disposition', `attachment; filename="quire-${stamp}.backup"`).send(stream)
  })

  app.post('/restore', {
    config: { adminOnly: 'restoring a backup', openapiBody: s.binary('A backup file, as `GET /api/backup` and `quire backup` write it'), bodyType: 'application/octet-stream' },
    schema: {
      tags,
      summary: 'Restore documents from a backup',
      description: 'Reads the backup as it arrives and restores each document once its records are complete and checked: a document that does not exist is created (through its room, so live clients receive it) with its versions; one with the same content and versions is skipped; one with other content or versions is left alone and listed as a conflict. Safe to send again. A damaged or cut-off backup is refused with 400 at the first bad record; documents before it stay restored and the message says how many. Each content or version state may be at most `--max-body-bytes` (413). Needs the admin role when authentication is on.',
      response: { 200: s.restoreSummary, ...s.errors(400, 413, 415, 503) },
    },
  }, async (request) => {
    if (!(request.body instanceof Readable)) throw new HttpError(415, 'send the backup as application/octet-stream')
    const summary = emptySummary()
    const target = targetFor(principalOf(request).sub)
    try {
      for await (const doc of new BackupReader(request.body, { maxPartBytes: maxBodyBytes }).documents()) {
        tally(summary, await restoreDocument(target, doc))
      }
    } catch (error) {
      const done = summary.documents > 0 ? `; the ${summary.documents} documents before it were restored` : '; nothing was restored'
      if (error instanceof BackupRecordTooLarge) throw new HttpError(413, `${error.message} (--max-body-bytes)${done}`)
      if (error instanceof InvalidInputError) throw new HttpError(400, `${error.message}${done}`)
      if (error instanceof HttpError) throw new HttpError(error.statusCode, `${error.message}${done}`)
      throw error
    }
    return summary
  })

  app.post<{ Params: s.NameParams; Body: Record<string, never> }>('/docs/:name/compact', {
    config: { adminOnly: 'compacting documents' },
    schema: {
      tags,
      summary: 'Compact a document',
      description: 'Folds the document\'s log of updates into its stored state in one atomic write, as the server does by itself once a log is long enough (`--compact-after-updates`, `--compact-after-bytes`) and when a document unloads. The content does not change. The body is the empty JSON object `{}` (see the version restore route for why). Needs the admin role when authentication is on.',
      params: s.nameParams,
      body: s.restoreBody,
      response: { 200: s.compaction, ...s.errors(400, 404, 415, 503) },
    },
  }, async (request) => {
    const name = documentName(request.params.name)
    const before = await store.info(name)
    if (!before) throw documentNotFound(name)
    // Held, the document is read from its room, never from storage while the compaction rewrites it.
    const { room, release } = await registry.hold(name)
    try {
      if (!room.isOpen) throw new HttpError(503, `document ${JSON.stringify(name)} was closed meanwhile; try again`)
      await room.durable()
      await store.compact(name)
    } finally {
      release()
    }
    const after = (await store.info(name)) ?? before
    return {
      name,
      before: { bytes: before.bytes, logUpdates: before.logUpdates },
      after: { bytes: after.bytes, logUpdates: after.logUpdates },
    }
  })
}

/**
 * The document's content, current and durable; null if it is not stored. A document someone has
 * open but nobody wrote to is loaded, not stored: a restore creates it rather than seeing a conflict.
 */
async function storedContent(registry: RoomRegistry, store: DocStore, name: string): Promise<Uint8Array | null> {
  const state = await registry.read(name, (doc) => (doc.store.clients.size > 0 ? Y.encodeStateAsUpdate(doc) : null))
  if (state) return state
  return (await store.info(name)) ? Y.encodeStateAsUpdate(new Y.Doc()) : null
}

/**
 * Creates a document with a backup's content, through its room: stored, and relayed to anyone
 * who opened the (so far empty) document meanwhile.
 */
async function createDocument(registry: RoomRegistry, store: DocStore, name: string, content: Uint8Array): Promise<void> {
  const { room, release } = await registry.hold(name)
  try {
    if (!room.isOpen) throw new HttpError(503, `document ${JSON.stringify(name)} was closed while it was being restored; try again`)
    checkUpdate(room.doc, content)
    const { structs, ds } = Y.decodeUpdate(content)
    if (structs.length > 0 || ds.clients.size > 0) return await room.applyServerUpdate(content)
    // An empty document: Yjs reports no change for it, so the room would store nothing. It
    // exists in the backup, so it is stored as it was, while the room is held.
    await room.durable()
    await store.append(name, content)
  } finally {
    release()
  }
}
