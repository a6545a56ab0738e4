/**
 * What the REST routes do with documents, apart from HTTP: reading one through the registry
 * (from its room if loaded, else from storage), editing one as the server, reading a version.
 */
import * as Y from 'yjs'
import { stateVectorJson, type StateVectorJson } from '../content/codec.js'
import { docJson, stringifyJson, typeJson, typeText } from '../content/json.js'
import { validateDocumentName } from '../protocol/document-name.js'
import type { RoomRegistry } from '../room/registry.js'
import type { DocInfo, DocStore, StoredVersion } from '../storage/doc-store.js'
import { HttpError, notFound } from './errors.js'
import type { FastifyReply } from 'fastify'

/** The route parameter, already percent-decoded by the router, checked like a WebSocket room name. */
export function documentName(param: string): string {
  validateDocumentName(param) // throws ProtocolError → 400
  return param
}

export const documentNotFound = (name: string) => notFound(`document ${JSON.stringify(name)} not found`)

/** `use(doc)` on the current content; 404 for a document that is neither loaded nor stored. */
export async function readDocument<T>(registry: RoomRegistry, name: string, use: (doc: Y.Doc) => T): Promise<T> {
  let found = false
  const result = await registry.read(name, (doc) => {
    found = true
    return use(doc)
  })
  if (!found) throw documentNotFound(name)
  return result as T
}

/**
 * readDocument, with a seq every update up to which is in what `use` saw (for version events):
 * the loaded room's last durable append, or the stored seq read just before. Undefined if neither is known.
 */
export async function readDocumentAt<T>(registry: RoomRegistry, store: DocStore, name: string, use: (doc: Y.Doc) => T): Promise<{ result: T; seq: number | undefined }> {
  // Taken before the read: a document's seqs only grow, so what the read finds holds every update up to it.
  let seq = Promise.resolve((await store.info(name))?.seq)
  const result = await readDocument(registry, name, (doc) => {
    const room = registry.get(name)
    // The read waits for this room's appends in flight; if one fails the read rejects, so this may be dropped.
    if (room?.doc === doc) seq = room.durableSeq().catch(() => undefined)
    return use(doc)
  })
  return { result, seq: await seq }
}

/**
 * Applies the update `makeUpdate` returns (it may throw to refuse, or return null: nothing to do)
 * as a server edit, in the same turn it was computed in, so no client update slips in between. Loads the document for the
 * edit if needed and lets it unload afterwards. Resolves once the edit is durable, with the
 * state vector right after it.
 */
export async function editDocument(
  registry: RoomRegistry,
  name: string,
  makeUpdate: (doc: Y.Doc) => Uint8Array | null,
): Promise<StateVectorJson> {
  return (await editDocumentAt(registry, name, makeUpdate)).stateVector
}

/** editDocument, with the seq of the edit (of the document's last update, when there was nothing to do). */
export async function editDocumentAt(
  registry: RoomRegistry,
  name: string,
  makeUpdate: (doc: Y.Doc) => Uint8Array | null,
): Promise<{ stateVector: StateVectorJson; seq: number }> {
  const { room, release } = await registry.hold(name)
  try {
    // A DELETE that waited for the same load can close the room between the hold joining it and
    // this turn (so can shutdown or a storage failure); applying would then reject with a plain
    // Error, a 500. From here to the apply nothing yields, so checking once is enough.
    if (!room.isOpen) throw await closedUnderEdit(registry, name)
    const update = makeUpdate(room.doc)
    const durable = update ? room.applyServerUpdate(update) : room.durable()
    // The same append `durable` waits for: the edit's.
    const seq = room.durableSeq()
    const stateVector = stateVectorJson(room.doc)
    const [, at] = await Promise.all([durable, seq])
    return { stateVector, seq: at }
  } finally {
    release()
  }
}

/**
 * Why the held room closed, as the error to answer: the document is gone (409: a concurrent
 * DELETE won, nothing of this edit was applied), the server is shutting down (503, thrown by
 * `read`), or something else closed it (503: try again). `read` waits for the delete or unload
 * to finish and loads nothing.
 */
async function closedUnderEdit(registry: RoomRegistry, name: string): Promise<HttpError> {
  const stored = await registry.read(name, () => true)
  if (!stored) return new HttpError(409, `document ${JSON.stringify(name)} was deleted while this edit was being applied; nothing was changed`)
  return new HttpError(503, `document ${JSON.stringify(name)} was closed while this edit was being applied; nothing was changed, try again`)
}

export interface DocumentJson {
  name: string
  updates: number
  bytes: number
  logUpdates?: number
  createdAt?: string
  updatedAt?: string
  loaded: boolean
  connections: number
  quotaBytes?: number
}

export function documentJson(registry: RoomRegistry, name: string, info: DocInfo | null): DocumentJson {
  const room = registry.get(name)
  return {
    name,
    updates: info?.seq ?? 0,
    bytes: info?.bytes ?? 0,
    ...(info && { logUpdates: info.logUpdates, createdAt: new Date(info.createdAt).toISOString(), updatedAt: new Date(info.updatedAt).toISOString() }),
    loaded: room !== undefined,
    connections: registry.connections(name),
    ...(room && { quotaBytes: room.quotaBytes }),
  }
}

export async function readVersion(store: DocStore, name: string, id: number): Promise<StoredVersion> {
  const version = await store.versions.read(name, id)
  if (!version) throw notFound(`version ${id} of document ${JSON.stringify(name)} not found`)
  return version
}

/** `use(doc)` on a scratch doc holding the version's content. */
export function withVersionDoc<T>(version: StoredVersion, use: (doc: Y.Doc) => T): T {
  const doc = new Y.Doc()
  try {
    Y.applyUpdate(doc, version.state)
    return use(doc)
  } finally {
    doc.destroy()
  }
}

/** The JSON export, serialized; null if `key` names no top-level shared type. */
export function jsonExport(doc: Y.Doc, key: string | undefined): string | null {
  if (key === undefined) return stringifyJson(docJson(doc))
  const type = doc.share.get(key)
  return type ? stringifyJson(typeJson(type)) : null
}

/** The text export; null if `key` names no top-level shared type. */
export function textExport(doc: Y.Doc, key: string): string | null {
  const type = doc.share.get(key)
  return type ? typeText(key, type) : null
}

export const keyNotFound = (name: string, key: string) =>
  notFound(`document ${JSON.stringify(name)} has no shared type ${JSON.stringify(key)}`)

export function sendBytes(reply: FastifyReply, bytes: Uint8Array): FastifyReply {
  return reply.type('application/octet-stream').send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
}

export function sendJsonText(reply: FastifyReply, json: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json)
}

export function sendText(reply: FastifyReply, text: string): FastifyReply {
  return reply.type('text/plain; charset=utf-8').send(text)
}
