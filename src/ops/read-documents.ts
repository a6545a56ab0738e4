/**
 * Reading every document with its versions, one at a time, for a backup. Written once against a
 * small interface, so that `quire backup` on a stopped store and `GET /api/backup` on a running
 * server (which must read loaded documents through their rooms) produce the same records.
 */
import type { DocInfo, ListOptions, StoredVersion, VersionInfo } from '../storage/doc-store.js'
import type { BackupDocument, BackupVersion } from './backup-format.js'

export interface DocumentSource {
  /** Stored documents in name order, from metadata only (DocStore.list). */
  list(options: ListOptions): Promise<DocInfo[]>
  /** The content as one update (Y.encodeStateAsUpdate of the loaded document); null if it is gone. */
  content(name: string): Promise<Uint8Array | null>
  versions: {
    list(name: string): Promise<VersionInfo[]>
    read(name: string, id: number): Promise<StoredVersion | null>
  }
  /** Done with this document: drop whatever was cached for it. */
  release?(name: string): void
}

/** Stored documents in name order, one page in memory at a time. */
export async function* listAll(source: Pick<DocumentSource, 'list'>, pageSize = 200): AsyncGenerator<DocInfo> {
  let after: string | undefined
  for (;;) {
    const page = await source.list({ after, limit: pageSize })
    yield* page
    if (page.length < pageSize) return
    after = page.at(-1)!.name
  }
}

/** How many documents are stored, counted from metadata. */
export async function countAll(source: Pick<DocumentSource, 'list'>): Promise<number> {
  let count = 0
  for await (const _ of listAll(source, 1000)) count++
  return count
}

/**
 * Every document, complete with its versions, in name order. A document deleted while it is
 * being read is left out: the backup holds it entirely or not at all.
 */
export async function* readDocuments(source: DocumentSource): AsyncGenerator<BackupDocument> {
  for await (const info of listAll(source)) {
    const doc = await readDocument(source, info)
    source.release?.(info.name)
    if (doc) yield doc
  }
}

export async function readDocument(source: DocumentSource, info: DocInfo): Promise<BackupDocument | null> {
  const listed = await source.versions.list(info.name)
  const content = await source.content(info.name)
  if (content === null) return null
  const versions: BackupVersion[] = []
  for (const version of listed) {
    const stored = await source.versions.read(info.name, version.id)
    if (!stored) return null // deleted meanwhile: versions go only with their document
    versions.push({ id: version.id, label: version.label, createdAt: version.createdAt, state: stored.state })
  }
  return { name: info.name, createdAt: info.createdAt, updatedAt: info.updatedAt, seq: info.seq, content, versions }
}
