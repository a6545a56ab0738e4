/**
 * What `quire inspect` reports about a document: storage figures from its metadata, and what
 * its content holds — Yjs clients with their clocks (the state vector) and top-level shared
 * types with their kind. Kinds are inferred as the JSON export infers them (content/json.ts):
 * updates do not record them, and a type with nothing live in it has no kind anyone can tell.
 */
import * as Y from 'yjs'
import { sharedKind } from '../content/json.js'
import type { VersionInfo } from '../storage/doc-store.js'
import type { DocMeta } from './backend.js'

export interface Inspection {
  name: string
  where: string
  /** Stored bytes: compacted state plus log. */
  bytes: number
  /** Updates in the log, not yet compacted; null when the server does not report it. */
  logUpdates: number | null
  seq: number
  createdAt: string | null
  updatedAt: string | null
  /** Running server only. */
  loaded?: boolean
  connections?: number
  /** The content encoded as one Yjs update. */
  contentBytes: number
  clients: Array<{ client: number; clock: number }>
  types: Array<{ name: string; kind: 'text' | 'map' | 'array' | 'xml' | null }>
  versions: Array<{ id: number; label: string; bytes: number; createdAt: string }>
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString())

export function inspect(where: string, meta: DocMeta, content: Uint8Array, versions: VersionInfo[]): Inspection {
  const doc = new Y.Doc()
  try {
    Y.applyUpdate(doc, content)
    const clients = [...Y.decodeStateVector(Y.encodeStateVector(doc))]
      .map(([client, clock]) => ({ client, clock }))
      .sort((a, b) => a.client - b.client)
    const types = [...doc.share]
      .map(([name, type]) => ({ name, kind: sharedKind(type) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    return {
      name: meta.name,
      where,
      bytes: meta.bytes,
      logUpdates: meta.logUpdates ?? null,
      seq: meta.seq,
      createdAt: iso(meta.createdAt),
      updatedAt: iso(meta.updatedAt),
      ...(meta.loaded !== undefined && { loaded: meta.loaded, connections: meta.connections ?? 0 }),
      contentBytes: content.byteLength,
      clients,
      types,
      versions: versions.map((v) => ({ id: v.id, label: v.label, bytes: v.bytes, createdAt: new Date(v.createdAt).toISOString() })),
    }
  } finally {
    doc.destroy()
  }
}

/** The report for people: one fact per line, lists indented below their heading. */
export function formatInspection(i: Inspection): string {
  const log = i.logUpdates === null ? 'log length not reported by this server' : `${i.logUpdates} update${i.logUpdates === 1 ? '' : 's'} in the log`
  const lines = [
    `document:      ${JSON.stringify(i.name)} in ${i.where}`,
    `stored:        ${i.bytes} bytes, ${log}, seq ${i.seq}`,
    `created:       ${i.createdAt ?? '-'}`,
    `updated:       ${i.updatedAt ?? '-'}`,
  ]
  if (i.loaded !== undefined) lines.push(`live:          ${i.loaded ? `loaded, ${i.connections} connection${i.connections === 1 ? '' : 's'}` : 'not loaded'}`)
  lines.push(`content:       ${i.contentBytes} bytes as one Yjs update`)
  lines.push(`clients:       ${i.clients.length} (client id: clock)`)
  for (const { client, clock } of i.clients) lines.push(`  ${client}: ${clock}`)
  lines.push(`shared types:  ${i.types.length}`)
  for (const { name, kind } of i.types) lines.push(`  ${JSON.stringify(name)}: ${kind ?? 'unknown (nothing live in it)'}`)
  lines.push(`versions:      ${i.versions.length}`)
  for (const v of i.versions) lines.push(`  ${v.id}  ${v.createdAt}  ${v.bytes} bytes  ${JSON.stringify(v.label)}`)
  return lines.join('\n')
}
