/**
 * The default DocStore: one LevelDB database per server, three sublevels.
 *
 *   meta  name            → DocMeta (JSON): sizes, sequence numbers, timestamps
 *   base  name            → compacted state (Yjs v1 update) covering seq ≤ meta.baseSeq
 *   log   name \0 seq(hex) → one update; only entries with seq > meta.baseSeq are live
 *
 * plus the `versions` and `version-states` sublevels of LevelVersions (versions.ts).
 *
 * Appends are group-committed: the updates of one event-loop turn and the meta of every
 * document they touch go in one atomic batch. Compaction writes the new base and deletes the
 * log entries it covers in one batch too, so a crash at any point leaves a loadable document.
 */
import { mkdir } from 'node:fs/promises'
import * as Y from 'yjs'
import { Level } from 'level'
import { GroupCommit } from './group-commit.js'
import { LevelVersions } from './versions.js'
import { docInfo, logKey, logRangeEnd, seqOfLogKey, type BatchOp, type Bytes, type DocMeta, type Sub } from './level-layout.js'
import { silentLogger, type Logger } from '../logger.js'
import {
  DataDirInUseError,
  type AppendResult,
  type DocInfo,
  type DocStore,
  type ListOptions,
  type LoadedDoc,
  type LogEntry,
  type Snapshot,
} from './doc-store.js'

export interface LevelStoreOptions {
  /** Flush each batch to the disk (fsync) before acknowledging it: survives power loss, costs latency. */
  fsync?: boolean
  /** Compaction is due once the log holds this many updates… */
  compactAfterUpdates?: number
  /** …or this many bytes. */
  compactAfterBytes?: number
  /**
   * When a document is released with at least this many bytes superseded by its compactions,
   * ask LevelDB to compact its key range so the disk space comes back now, not eventually.
   */
  reclaimAfterBytes?: number
  /** Where background failures (space reclamation) are reported. */
  log?: Logger
}

export class LevelDocStore implements DocStore {
  private readonly meta: Sub<DocMeta>
  private readonly base: Sub<Bytes>
  private readonly log: Sub<Bytes>
  private readonly metas = new Map<string, DocMeta>()
  private readonly metaReads = new Map<string, Promise<DocMeta>>()
  private readonly dirty = new Set<string>()
  private committing: string[] = []
  private readonly compactions = new Map<string, Promise<void>>()
  /** Bytes each document's compactions superseded since its key range was last compacted. */
  private readonly superseded = new Map<string, number>()
  private readonly reclaims = new Set<Promise<void>>()
  private readonly writer: GroupCommit<BatchOp>
  private readonly compactAfterUpdates: number
  private readonly compactAfterBytes: number
  private readonly reclaimAfterBytes: number
  private readonly logger: Logger
  readonly versions: LevelVersions

  private constructor(
    private readonly db: Level<string, Bytes>,
    options: LevelStoreOptions,
  ) {
    this.meta = db.sublevel('meta', { valueEncoding: 'json' }) as Sub<DocMeta>
    this.base = db.sublevel('base', { valueEncoding: 'view' }) as Sub<Bytes>
    this.log = db.sublevel('log', { valueEncoding: 'view' }) as Sub<Bytes>
    this.compactAfterUpdates = options.compactAfterUpdates ?? 1000
    this.compactAfterBytes = options.compactAfterBytes ?? 1024 * 1024
    this.reclaimAfterBytes = options.reclaimAfterBytes ?? 1024 * 1024
    this.logger = options.log ?? silentLogger
    const sync = options.fsync ?? false
    this.writer = new GroupCommit<BatchOp>(
      async (ops) => {
        try {
          await this.db.batch(ops as never, { sync })
        } catch (error) {
          // The cached metas now run ahead of the disk; read them again next time.
          for (const name of this.committing) this.forgetMeta(name)
          throw error
        }
      },
      (ops) => {
        this.committing = [...this.dirty]
        for (const name of this.dirty) {
          const meta = this.metas.get(name)
          if (meta) ops.push({ type: 'put', sublevel: this.meta, key: name, value: { ...meta } })
        }
        this.dirty.clear()
      },
    )
    this.versions = new LevelVersions(db, (ops) => this.writer.add(ops), async (name) => (await this.info(name)) !== null)
  }

  /** Opens (creating if needed) the database in `dir`. Fails with DataDirInUseError if another process has it. */
  static async open(dir: string, options: LevelStoreOptions = {}): Promise<LevelDocStore> {
    await mkdir(dir, { recursive: true })
    const db = new Level<string, Bytes>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      await db.open()
    } catch (error) {
      if ((error as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED') {
        throw new DataDirInUseError(dir)
      }
      throw error
    }
    return new LevelDocStore(db, options)
  }

  async load(name: string): Promise<LoadedDoc> {
    await this.writer.barrier()
    const meta = await this.readMeta(name)
    const updates: Uint8Array[] = []
    if (meta.baseSeq > 0) {
      const base = await this.base.get(name)
      if (base) updates.push(base as Bytes)
    }
    let seq = meta.seq
    for await (const [key, update] of this.log.iterator({ gt: logKey(name, meta.baseSeq), lt: logRangeEnd(name) })) {
      updates.push(update as Bytes)
      seq = Math.max(seq, seqOfLogKey(key))
    }
    meta.seq = seq
    return { updates, seq }
  }

  async append(name: string, update: Uint8Array): Promise<AppendResult> {
    // Synchronous when the meta is cached, so seqs follow call order; otherwise callers for the
    // same document share one read and resume in call order.
    const meta = this.metas.get(name) ?? (await this.readMeta(name))
    const seq = ++meta.seq
    meta.logUpdates++
    meta.logBytes += update.byteLength
    meta.updatedAt = Date.now()
    this.dirty.add(name)
    await this.writer.add([{ type: 'put', sublevel: this.log, key: logKey(name, seq), value: update }])
    return {
      seq,
      compactionDue: meta.logUpdates >= this.compactAfterUpdates || meta.logBytes >= this.compactAfterBytes,
    }
  }

  async readSince(name: string, seq: number): Promise<LogEntry[] | null> {
    await this.writer.barrier()
    const meta = await this.readMeta(name)
    if (seq < meta.baseSeq) return null
    const entries: LogEntry[] = []
    for await (const [key, update] of this.log.iterator({ gt: logKey(name, seq), lt: logRangeEnd(name) })) {
      entries.push({ seq: seqOfLogKey(key), update: update as Bytes })
    }
    // A compaction that committed between the check above and the scan may have folded entries
    // after `seq` away; it moves baseSeq before it writes. A gap means the same: load instead.
    if (seq < (await this.readMeta(name)).baseSeq) return null
    if (entries.length > 0 && entries[0]!.seq !== seq + 1) return null
    return entries
  }

  compact(name: string, snapshot?: Snapshot): Promise<void> {
    // One compaction per document at a time; different documents compact independently.
    const previous = this.compactions.get(name) ?? Promise.resolve()
    const next = previous.then(() => this.compactNow(name, snapshot))
    const settled = next.catch(() => {})
    this.compactions.set(name, settled)
    void settled.then(() => {
      if (this.compactions.get(name) === settled) this.compactions.delete(name)
    })
    return next
  }

  private async compactNow(name: string, snapshot?: Snapshot): Promise<void> {
    snapshot ??= await this.mergeStored(name)
    // Every update up to snapshot.seq must be on disk before its log entries can be listed.
    await this.writer.barrier()
    const meta = await this.readMeta(name)
    if (snapshot.seq <= meta.baseSeq) return
    const { keys: covered, bytes: coveredBytes } = await this.coveredLog(name, meta, snapshot.seq)
    this.superseded.set(name, (this.superseded.get(name) ?? 0) + meta.baseBytes + coveredBytes)
    meta.baseSeq = snapshot.seq
    meta.baseBytes = snapshot.state.byteLength
    meta.logUpdates = Math.max(0, meta.logUpdates - covered.length)
    meta.logBytes = Math.max(0, meta.logBytes - coveredBytes)
    this.dirty.add(name)
    await this.writer.add([
      { type: 'put', sublevel: this.base, key: name, value: snapshot.state },
      ...covered.map((key): BatchOp => ({ type: 'del', sublevel: this.log, key })),
    ])
  }

  /** Log keys in (baseSeq, seq] and their total size. */
  private async coveredLog(name: string, meta: DocMeta, seq: number): Promise<{ keys: string[]; bytes: number }> {
    if (seq >= meta.seq) {
      // The snapshot covers the whole log: seqs are contiguous and the meta knows the size, so
      // nothing needs reading (deleting a key that a failed write never stored is harmless).
      const keys: string[] = []
      for (let s = meta.baseSeq + 1; s <= meta.seq; s++) keys.push(logKey(name, s))
      return { keys, bytes: meta.logBytes }
    }
    const keys: string[] = []
    let bytes = 0
    for await (const [key, update] of this.log.iterator({ gt: logKey(name, meta.baseSeq), lte: logKey(name, seq) })) {
      keys.push(key)
      bytes += (update as Bytes).byteLength
    }
    return { keys, bytes }
  }

  private async mergeStored(name: string): Promise<Snapshot> {
    const { updates, seq } = await this.load(name)
    const doc = new Y.Doc()
    try {
      doc.transact(() => {
        for (const update of updates) Y.applyUpdate(doc, update)
      })
      return { state: Y.encodeStateAsUpdate(doc), seq }
    } finally {
      doc.destroy()
    }
  }

  async info(name: string): Promise<DocInfo | null> {
    // Read past the cache, so asking about unknown names (REST) caches nothing. Safe: a document
    // whose meta is not cached has no unwritten changes.
    const meta = this.metas.get(name) ?? ((await this.meta.get(name)) as DocMeta | undefined)
    return meta && meta.seq > 0 ? docInfo(name, meta) : null
  }

  async list({ prefix = '', after, limit }: ListOptions): Promise<DocInfo[]> {
    const docs: DocInfo[] = []
    // Names starting with `prefix` sort at or after it, so the scan stops at the first that does not.
    const range = after !== undefined && after.startsWith(prefix) ? { gt: after } : { gte: prefix }
    for await (const [name, stored] of this.meta.iterator(range)) {
      if (docs.length >= limit || !name.startsWith(prefix)) break
      docs.push(docInfo(name, this.metas.get(name) ?? (stored as DocMeta)))
    }
    return docs
  }

  async delete(name: string): Promise<boolean> {
    // The caller has stopped writing; let what it wrote, and any compaction, land first.
    await this.compactions.get(name)
    await this.writer.barrier()
    return this.versions.exclusive(name, async () => {
      const meta = this.metas.get(name) ?? ((await this.meta.get(name)) as DocMeta | undefined)
      const ops: BatchOp[] = [
        { type: 'del', sublevel: this.meta, key: name },
        { type: 'del', sublevel: this.base, key: name },
        ...(await this.versions.deleteAllOps(name)),
      ]
      for await (const key of this.log.keys({ gte: logKey(name, 0), lt: logRangeEnd(name) })) {
        ops.push({ type: 'del', sublevel: this.log, key })
      }
      // Forget the meta before queueing, or the batch would write the cached copy back.
      this.metas.delete(name)
      this.dirty.delete(name)
      if (meta) this.superseded.set(name, (this.superseded.get(name) ?? 0) + meta.baseBytes + meta.logBytes)
      await this.writer.add(ops)
      return (meta?.seq ?? 0) > 0
    })
  }

  release(name: string): void {
    if (!this.dirty.has(name) && !this.compactions.has(name)) this.metas.delete(name)
    if ((this.superseded.get(name) ?? 0) >= this.reclaimAfterBytes) this.reclaimSpace(name)
  }

  /** LevelDB drops superseded values only when it compacts their files; do that for one document now. */
  private reclaimSpace(name: string): void {
    this.superseded.delete(name)
    // `level` re-exports classic-level on Node; its types leave compactRange out.
    const db = this.db as unknown as { compactRange(start: string, end: string): Promise<void> }
    const reclaim = (async () => {
      await db.compactRange(this.log.prefix + logKey(name, 0), this.log.prefix + logRangeEnd(name))
      await db.compactRange(this.base.prefix + name, this.base.prefix + name)
    })().catch((error: unknown) => this.logger.warn({ err: error, doc: name }, 'reclaiming disk space failed'))
    this.reclaims.add(reclaim)
    void reclaim.finally(() => this.reclaims.delete(reclaim))
  }

  isOpen(): boolean {
    return this.db.status === 'open'
  }

  async close(): Promise<void> {
    await Promise.all(this.reclaims)
    await this.writer.barrier().catch(() => {})
    await this.db.close()
  }

  private readMeta(name: string): Promise<DocMeta> {
    const cached = this.metas.get(name)
    if (cached) return Promise.resolve(cached)
    let read = this.metaReads.get(name)
    if (!read) {
      read = (async () => {
        const stored = (await this.meta.get(name)) as DocMeta | undefined
        const now = Date.now()
        const meta = this.metas.get(name) ?? stored ?? {
          seq: 0, baseSeq: 0, baseBytes: 0, logUpdates: 0, logBytes: 0, createdAt: now, updatedAt: now,
        }
        this.metas.set(name, meta)
        return meta
      })()
      this.metaReads.set(name, read)
      const forget = () => this.metaReads.delete(name)
      read.then(forget, forget)
    }
    return read
  }

  private forgetMeta(name: string): void {
    this.metas.delete(name)
  }
}
