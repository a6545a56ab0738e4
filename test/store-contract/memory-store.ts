/**
 * The simplest DocStore that keeps the contract: everything in memory, every operation done in
 * full at the moment it is called. It exists to validate the contract suite itself (a test that
 * fails against this store is a wrong test, not a broken store) and, because its state lives in a
 * shared `MemoryStorage` rather than in the store object, to give the suite's restart and
 * two-instance tests a store that supports both.
 *
 * Not for production: nothing is persisted, and a real store cannot do its work synchronously.
 */
import * as Y from 'yjs'
import type {
  AppendResult,
  DocInfo,
  DocStore,
  ListOptions,
  LoadedDoc,
  LogEntry,
  Snapshot,
  StoredVersion,
  VersionInfo,
  VersionStore,
} from '../../src/storage/doc-store.js'

interface MemoryDoc {
  seq: number
  baseSeq: number
  base: Uint8Array | null
  /** seq → update, for seq > baseSeq; insertion order is seq order. */
  log: Map<number, Uint8Array>
  logBytes: number
  createdAt: number
  updatedAt: number
  versions: StoredVersion[]
}

/** What survives a "restart", and what two instances share. */
export class MemoryStorage {
  readonly docs = new Map<string, MemoryDoc>()
}

export interface MemoryStoreOptions {
  compactAfterUpdates?: number
  compactAfterBytes?: number
}

/** Byte order of the UTF-8 encodings, which is what `list` promises (not UTF-16 or locale order). */
const utf8Compare = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))

export class MemoryDocStore implements DocStore {
  private open = true
  readonly versions: VersionStore

  constructor(
    readonly storage = new MemoryStorage(),
    private readonly options: MemoryStoreOptions = {},
  ) {
    const docs = storage.docs
    const check = () => this.check()
    this.versions = {
      async create(name: string, label: string, state: Uint8Array): Promise<VersionInfo | null> {
        check()
        const doc = docs.get(name)
        if (!doc) return null
        const info: VersionInfo = { id: doc.versions.length + 1, label, createdAt: Date.now(), bytes: state.byteLength }
        doc.versions.push({ info, state: state.slice() })
        return { ...info }
      },
      async list(name: string): Promise<VersionInfo[]> {
        check()
        return (docs.get(name)?.versions ?? []).map((v) => ({ ...v.info }))
      },
      async read(name: string, id: number): Promise<StoredVersion | null> {
        check()
        const version = docs.get(name)?.versions[id - 1]
        return version ? { info: { ...version.info }, state: version.state.slice() } : null
      },
    }
  }

  async load(name: string): Promise<LoadedDoc> {
    this.check()
    const doc = this.storage.docs.get(name)
    if (!doc) return { updates: [], seq: 0 }
    return { updates: [...(doc.base ? [doc.base] : []), ...doc.log.values()], seq: doc.seq }
  }

  async append(name: string, update: Uint8Array): Promise<AppendResult> {
    this.check()
    let doc = this.storage.docs.get(name)
    const now = Date.now()
    if (!doc) {
      doc = { seq: 0, baseSeq: 0, base: null, log: new Map(), logBytes: 0, createdAt: now, updatedAt: now, versions: [] }
      this.storage.docs.set(name, doc)
    }
    const seq = ++doc.seq
    doc.log.set(seq, update.slice())
    doc.logBytes += update.byteLength
    doc.updatedAt = Math.max(doc.updatedAt, now)
    return {
      seq,
      compactionDue:
        doc.log.size >= (this.options.compactAfterUpdates ?? 1000) || doc.logBytes >= (this.options.compactAfterBytes ?? 1024 * 1024),
    }
  }

  async readSince(name: string, seq: number): Promise<LogEntry[] | null> {
    this.check()
    const doc = this.storage.docs.get(name)
    if (!doc) return []
    if (seq < doc.baseSeq) return null
    const entries: LogEntry[] = []
    for (let s = seq + 1; s <= doc.seq; s++) {
      const update = doc.log.get(s)
      if (!update) return null
      entries.push({ seq: s, update })
    }
    return entries
  }

  async compact(name: string, snapshot?: Snapshot): Promise<void> {
    this.check()
    const doc = this.storage.docs.get(name)
    if (!doc) return // nothing stored: compacting creates nothing
    if (!snapshot) {
      const merged = new Y.Doc()
      merged.transact(() => {
        if (doc.base) Y.applyUpdate(merged, doc.base)
        for (const update of doc.log.values()) Y.applyUpdate(merged, update)
      })
      snapshot = { state: Y.encodeStateAsUpdate(merged), seq: doc.seq }
      merged.destroy()
    }
    // An older snapshot than the base would roll back updates the log no longer holds.
    if (snapshot.seq <= doc.baseSeq) return
    doc.base = snapshot.state.slice()
    doc.baseSeq = snapshot.seq
    doc.seq = Math.max(doc.seq, snapshot.seq)
    for (const [seq, update] of doc.log) {
      if (seq > snapshot.seq) break
      doc.log.delete(seq)
      doc.logBytes -= update.byteLength
    }
  }

  async info(name: string): Promise<DocInfo | null> {
    this.check()
    const doc = this.storage.docs.get(name)
    return doc ? this.infoOf(name, doc) : null
  }

  async list({ prefix = '', after, limit }: ListOptions): Promise<DocInfo[]> {
    this.check()
    return [...this.storage.docs.keys()]
      .filter((name) => name.startsWith(prefix) && (after === undefined || utf8Compare(name, after) > 0))
      .sort(utf8Compare)
      .slice(0, limit)
      .map((name) => this.infoOf(name, this.storage.docs.get(name)!))
  }

  async delete(name: string): Promise<boolean> {
    this.check()
    return this.storage.docs.delete(name)
  }

  release(): void {}

  isOpen(): boolean {
    return this.open
  }

  async close(): Promise<void> {
    this.open = false
  }

  private infoOf(name: string, doc: MemoryDoc): DocInfo {
    return {
      name,
      seq: doc.seq,
      bytes: (doc.base?.byteLength ?? 0) + doc.logBytes,
      logUpdates: doc.log.size,
      createdAt: doc.createdAt,
      updatedAt: doc.updatedAt,
    }
  }

  private check(): void {
    if (!this.open) throw new Error('store is closed')
  }
}
