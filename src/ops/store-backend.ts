/**
 * The operator commands on a stopped store: a DocStore opened by this process alone (LevelDB
 * allows one process per directory; PostgreSQL is not locked, so servers using it should be
 * stopped too). No rooms, no clients: reading is loading, writing is appending, as a server does.
 */
import * as Y from 'yjs'
import { checkUpdate, docFromUpdates } from '../content/update.js'
import type { DocStore } from '../storage/doc-store.js'
import type { BackupDocument } from './backup-format.js'
import type { Backend, Compaction, DocMeta, ImportResult, RestoreProgress } from './backend.js'
import { countAll, listAll, readDocuments } from './read-documents.js'
import { emptySummary, restoreDocument, tally, type RestoreSummary, type RestoreTarget } from './restore-document.js'

export class StoreBackend implements Backend {
  readonly kind = 'store'

  constructor(
    private readonly store: DocStore,
    readonly where: string,
  ) {}

  async info(name: string): Promise<DocMeta | null> {
    const info = await this.store.info(name)
    return info && { name, seq: info.seq, bytes: info.bytes, logUpdates: info.logUpdates, createdAt: info.createdAt, updatedAt: info.updatedAt }
  }

  async content(name: string): Promise<Uint8Array | null> {
    const doc = await this.load(name)
    try {
      return doc && Y.encodeStateAsUpdate(doc)
    } finally {
      doc?.destroy()
    }
  }

  versions(name: string) {
    return this.store.versions.list(name)
  }

  /**
   * As `POST /api/docs/:name/update` does: checked against the document first (an update Yjs
   * would keep pending is refused), then what Yjs reports as the change is appended, so an update
   * that adds nothing stores nothing (and creates no document).
   */
  async importUpdate(name: string, update: Uint8Array): Promise<ImportResult> {
    const loaded = await this.load(name)
    const doc = loaded ?? new Y.Doc()
    try {
      checkUpdate(doc, update)
      const changes: Uint8Array[] = []
      doc.on('update', (change: Uint8Array) => changes.push(change))
      Y.applyUpdate(doc, update)
      for (const change of changes) await this.store.append(name, change)
      return { created: loaded === null && changes.length > 0, changed: changes.length > 0 }
    } finally {
      doc.destroy()
      this.store.release(name)
    }
  }

  async compact(name: string): Promise<Compaction | null> {
    const before = await this.store.info(name)
    if (!before) return null
    await this.store.compact(name)
    const after = (await this.store.info(name)) ?? before
    // Released last: LevelDB then reclaims the superseded bytes on disk now rather than eventually.
    this.store.release(name)
    return { name, before: { bytes: before.bytes, logUpdates: before.logUpdates }, after: { bytes: after.bytes, logUpdates: after.logUpdates } }
  }

  async *names(): AsyncGenerator<string> {
    for await (const info of listAll(this.store)) yield info.name
  }

  count(): Promise<number> {
    return countAll(this.store)
  }

  backup(): AsyncGenerator<BackupDocument> {
    return readDocuments({
      list: (options) => this.store.list(options),
      content: (name) => this.content(name),
      versions: this.store.versions,
      release: (name) => this.store.release(name),
    })
  }

  async restore(documents: AsyncIterable<BackupDocument>, progress: RestoreProgress): Promise<RestoreSummary> {
    const summary = emptySummary()
    const target: RestoreTarget = {
      content: (name) => this.content(name),
      versions: this.store.versions,
      // As `quire migrate` does: the content as one update, then compacted, so the document is
      // stored as one state like any compacted document.
      create: async (name, content) => {
        await this.store.append(name, content)
        await this.store.compact(name)
      },
    }
    for await (const doc of documents) {
      let result
      try {
        result = await restoreDocument(target, doc)
      } finally {
        this.store.release(doc.name)
      }
      tally(summary, result)
      progress({ name: doc.name, index: summary.documents, result })
    }
    return summary
  }

  close(): Promise<void> {
    return this.store.close()
  }

  /** The stored document in a fresh Y.Doc; null if nothing is stored. The caller destroys it. */
  private async load(name: string): Promise<Y.Doc | null> {
    const { updates, seq } = await this.store.load(name)
    this.store.release(name)
    if (seq === 0) return null
    return docFromUpdates(updates, name)
  }
}
