/**
 * The default DocStore: one LevelDB database per server, three sublevels.
 *
 *   meta  name            → DocMeta (JSON): sizes, sequence numbers, timestamps
 *   base  name            → compacted state (Yjs v1 update) covering seq ≤ meta.baseSeq
 *   log   name \0 seq(hex) → one update; only entries with seq > meta.baseSeq are live
 *
 * plus the `versions` and `version-states` sublevels of LevelVersions (versions.ts).
 *
 * Appends are group-committed: the updates of one event-loop turn go in one atomic batch.
 * Compaction writes the new base, the meta and deletes the log entries it covers in one batch
 * too, so a crash at any point leaves a loadable document.
 *
 * The meta is not rewritten with every append (that second put cost about a quarter of LevelDB's
 * work per update: ~13 of ~50 µs for a one-update batch): a document's first append, compactions
 * and deletes write it at once, and counters moved by appends are written at most once a second
 * (META_FLUSH_MS), and at close. After a crash the stored meta may lag its log by that second:
 * whoever reads it first (readMeta, info) finds the log's last seq past it and recounts the
 * entries after the base, so seqs, counts and sizes are exact again.
 *
 * When a batch fails, nothing of it is on disk, and the store must neither hand out a sequence
 * number twice nor let a later batch commit log entries without a meta that covers them:
 *   - the cached meta's `seq` only ever grows. A failed batch's seqs stay unused: a hole in the
 *     log, never reassigned (a later append could otherwise overwrite a committed update).
 *   - the metas a failed batch carried are written again with the next batch; the stored meta
 *     therefore always covers every committed log entry, and after a restart seqs continue
 *     above them.
 *   - the log counters of a failed batch's updates are taken back; a compaction's changes to the
 *     meta (base, counters) are kept aside and applied only once its batch has committed.
 *   - `readSince` answers only with a gap-free run of entries reaching the last assigned seq,
 *     and null (load instead) otherwise.
 */
import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import * as Y from 'yjs'
import { Level } from 'level'
import { GroupCommit } from './group-commit.js'
import { RecentBases } from './recent-bases.js'
import { LevelVersions } from './versions.js'
import { LevelEventOutbox } from './level-outbox.js'
import { docInfo, logKey, logRangeEnd, nameOfLogKey, seqOfLogKey, type BatchOp, type Bytes, type DocMeta, type Sub } from './level-layout.js'
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

/** Longest a document's stored meta lags behind its cached one because of appends. */
const META_FLUSH_MS = 1000
/** Metas of released documents kept (see releasedMetas): ~200 bytes each, 2 MB at most. */
const RELEASED_METAS = 10_000
/** Bytes of recently compacted documents' bases kept in memory (see RecentBases). */
const RECENT_BASE_BYTES = 16 * 1024 * 1024

/** Data directories (resolved) that a store of this process has open. */
const openInThisProcess = new Set<string>()

/** A compaction's changes to its document's meta, applied only when its batch commits. */
interface PendingCompaction {
  baseSeq: number
  baseBytes: number
  state: Uint8Array
  /** Log entries, and their bytes, that the new base replaces. */
  coveredUpdates: number
  coveredBytes: number
}

/** What a group-commit batch carries besides its operations; see `prepareBatch`. */
interface BatchState {
  /** Documents whose cached meta the batch writes. */
  metas: Set<string>
  compactions: Map<string, PendingCompaction>
}

/** `meta` with a compaction applied. Counts are subtracted, so appends made since still count. */
function compacted(meta: DocMeta, c: PendingCompaction): DocMeta {
  return {
    ...meta,
    seq: Math.max(meta.seq, c.baseSeq), // seq never falls below what the base covers
    baseSeq: c.baseSeq,
    baseBytes: c.baseBytes,
    logUpdates: Math.max(0, meta.logUpdates - c.coveredUpdates),
    logBytes: Math.max(0, meta.logBytes - c.coveredBytes),
  }
}

export class LevelDocStore implements DocStore {
  private readonly meta: Sub<DocMeta>
  private readonly base: Sub<Bytes>
  private readonly log: Sub<Bytes>
  /** The log sublevel's key prefix, for appends written without per-operation sublevel encoding. */
  private readonly logPrefix: string
  private readonly metas = new Map<string, DocMeta>()
  /**
   * Metas of released documents, exact on disk, most recent last (at most RELEASED_METAS): a
   * document loaded again soon (reconnects, churn) skips the meta read and the log scan that
   * checks it — together ~25 % of the churn bench's CPU.
   */
  private readonly releasedMetas = new Map<string, DocMeta>()
  private readonly recentBases = new RecentBases(RECENT_BASE_BYTES)
  private readonly metaReads = new Map<string, Promise<DocMeta>>()
  /** Documents whose cached meta must be written with the next batch. */
  private readonly dirty = new Set<string>()
  /**
   * Documents whose cached counters moved ahead of the stored meta through appends, with since
   * when (oldest first): a batch writes those older than META_FLUSH_MS.
   */
  private readonly stale = new Map<string, number>()
  /** Documents whose meta the batch now in flight writes (there is at most one batch in flight). */
  private committing = new Set<string>()
  /** Compactions queued for the next batch, with the meta changes they make once it commits. */
  private pendingCompactions = new Map<string, PendingCompaction>()
  private readonly compactions = new Map<string, Promise<void>>()
  /** Appends in flight per document, which a delete must include. */
  private readonly appending = new Map<string, Set<Promise<AppendResult>>>()
  /** Deletes in progress; appends to the same document wait for them. */
  private readonly deletions = new Map<string, Promise<void>>()
  /** Bytes each document's compactions superseded since its key range was last compacted. */
  private readonly superseded = new Map<string, number>()
  private readonly reclaims = new Set<Promise<void>>()
  private readonly writer: GroupCommit<BatchOp, BatchState>
  private readonly compactAfterUpdates: number
  private readonly compactAfterBytes: number
  private readonly reclaimAfterBytes: number
  private readonly logger: Logger
  readonly versions: LevelVersions
  readonly events: LevelEventOutbox

  private constructor(
    private readonly db: Level<string, Bytes>,
    options: LevelStoreOptions,
    private readonly path: string,
  ) {
    this.meta = db.sublevel('meta', { valueEncoding: 'json' }) as Sub<DocMeta>
    this.base = db.sublevel('base', { valueEncoding: 'view' }) as Sub<Bytes>
    this.log = db.sublevel('log', { valueEncoding: 'view' }) as Sub<Bytes>
    this.logPrefix = (this.log as unknown as { prefix: string }).prefix
    this.compactAfterUpdates = options.compactAfterUpdates ?? 1000
    this.compactAfterBytes = options.compactAfterBytes ?? 1024 * 1024
    this.reclaimAfterBytes = options.reclaimAfterBytes ?? 1024 * 1024
    this.logger = options.log ?? silentLogger
    const sync = options.fsync ?? false
    this.writer = new GroupCommit<BatchOp, BatchState>(
      async (ops, batch) => {
        try {
          await this.commitBatch(ops, sync)
        } catch (error) {
          this.batchFailed(ops, batch)
          throw error
        } finally {
          this.committing = new Set()
        }
        this.batchCommitted(batch)
      },
      (ops) => this.prepareBatch(ops),
    )
    this.versions = new LevelVersions(db, (ops) => this.writer.add(ops), async (name) => (await this.info(name)) !== null)
    this.events = new LevelEventOutbox(db, (ops) => this.writer.add(ops), this)
  }

  /** Opens (creating if needed) the database in `dir`. Fails with DataDirInUseError if another process has it. */
  static async open(dir: string, options: LevelStoreOptions = {}): Promise<LevelDocStore> {
    // LevelDB's lock says "locked" whether this process or another holds it: tell them apart.
    const path = resolve(dir)
    if (openInThisProcess.has(path)) throw new DataDirInUseError(dir, 'this process')
    await mkdir(dir, { recursive: true })
    const db = new Level<string, Bytes>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      await db.open()
    } catch (error) {
      if ((error as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED') {
        throw new DataDirInUseError(dir, openInThisProcess.has(path) ? 'this process' : 'another process')
      }
      throw error
    }
    openInThisProcess.add(path)
    return new LevelDocStore(db, options, path)
  }

  async load(name: string): Promise<LoadedDoc> {
    const meta = await this.readMeta(name)
    // Every seq assigned so far is settled (committed, or failed and left as a hole) once the
    // barrier resolves, so the result may claim it; later appends are not waited for.
    const last = meta.seq
    await this.settled()
    if (meta.seq === meta.baseSeq) {
      // Nothing in the log (all folded into the base, as after an unload, or a new document): one
      // read, no snapshot, no iterator — those took ~20 % of the churn bench's CPU. Or no read at all.
      const base = this.recentBases.get(name, meta.baseSeq) ?? (await this.base.get(name))
      return { updates: base ? [base as Bytes] : [], seq: last }
    }
    // Base and log are read from one snapshot: a compaction committing between the two reads
    // would otherwise pair the old base with a log it already pruned. The cached baseSeq is never
    // ahead of the snapshot (it moves only after the compaction's batch has committed); when it
    // is behind, the pruned entries are simply absent and the snapshot's base covers them, which
    // is why the base is read even when the cache says there is none.
    const baseSeq = meta.baseSeq
    const snapshot = this.db.snapshot()
    try {
      const updates: Uint8Array[] = []
      const base = await this.base.get(name, { snapshot })
      if (base) updates.push(base as Bytes)
      let top = 0
      for await (const [key, update] of this.log.iterator({ gt: logKey(name, baseSeq), lt: logRangeEnd(name), snapshot })) {
        updates.push(update as Bytes)
        top = seqOfLogKey(key)
      }
      return { updates, seq: Math.max(last, top) }
    } finally {
      await snapshot.close()
    }
  }

  append(name: string, update: Uint8Array): Promise<AppendResult> {
    // An append that arrives while the document is being deleted waits for the delete, then
    // starts the new document; the ones before it are part of what is deleted.
    const deleting = this.deletions.get(name)
    const append = deleting ? deleting.then(() => this.appendNow(name, update)) : this.appendNow(name, update)
    let inFlight = this.appending.get(name)
    if (!inFlight) this.appending.set(name, (inFlight = new Set()))
    inFlight.add(append)
    const done = () => {
      inFlight.delete(append)
      if (inFlight.size === 0 && this.appending.get(name) === inFlight) this.appending.delete(name)
    }
    append.then(done, done)
    return append
  }

  private async appendNow(name: string, update: Uint8Array): Promise<AppendResult> {
    // Synchronous when the meta is cached, so seqs follow call order; otherwise callers for the
    // same document share one read and resume in call order.
    const meta = this.cachedMeta(name) ?? (await this.readMeta(name))
    const seq = ++meta.seq
    meta.logUpdates++
    meta.logBytes += update.byteLength
    meta.updatedAt = Date.now()
    // A new document's meta goes with its first update: `list` finds documents by their metas.
    if (seq === 1) this.dirty.add(name)
    else if (!this.stale.has(name)) this.stale.set(name, meta.updatedAt)
    // The log's prefix is added here rather than by abstract-level per operation: the append is
    // the hot path, and the sublevel branch of its batch encoding was ~2 % of a fanout run's CPU.
    await this.writer.add([{ type: 'put', key: this.logPrefix + logKey(name, seq), value: update }])
    return {
      seq,
      compactionDue: meta.logUpdates >= this.compactAfterUpdates || meta.logBytes >= this.compactAfterBytes,
    }
  }

  async readSince(name: string, seq: number): Promise<LogEntry[] | null> {
    const meta = await this.readMeta(name)
    // The answer must reach this seq: every seq up to it is settled once the barrier resolves.
    const last = meta.seq
    await this.settled()
    if (seq < meta.baseSeq) return null
    // Only a run without gaps is an answer: seq+1, seq+2, … up to `last` at least (entries
    // committed since may follow). Anything else means load instead: a failed write's hole,
    // in the middle or at the end, or entries a compaction folded away. The scan reads one
    // snapshot, so a compaction committing meanwhile shows either fully or not at all, and a
    // pruned range shows as a gap at the start.
    const entries: LogEntry[] = []
    let next = seq + 1
    for await (const [key, update] of this.log.iterator({ gt: logKey(name, seq), lt: logRangeEnd(name) })) {
      if (seqOfLogKey(key) !== next) return null
      entries.push({ seq: next++, update: update as Bytes })
    }
    return next > last ? entries : null
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
    // Every update up to snapshot.seq must be settled (committed, or failed and gone) before its
    // log entries can be listed.
    await this.settled()
    const meta = await this.readMeta(name)
    if (snapshot.seq <= meta.baseSeq) return
    const covered = await this.coveredLog(name, meta, snapshot.seq)
    // The cached meta stays as it is until the batch commits (see batchCommitted): appends queued
    // meanwhile keep counting on it, and if the batch fails there is nothing to undo. Queued in
    // the same turn as the operations, so the two go in the same batch.
    this.pendingCompactions.set(name, {
      baseSeq: snapshot.seq,
      baseBytes: snapshot.state.byteLength,
      state: snapshot.state,
      coveredUpdates: covered.updates,
      coveredBytes: covered.bytes,
    })
    this.dirty.add(name)
    await this.writer.add([
      { type: 'put', sublevel: this.base, key: name, value: snapshot.state },
      // Prefixed here, as appends are: a compaction deletes as many keys as there were appends.
      ...covered.keys.map((key): BatchOp => ({ type: 'del', key: this.logPrefix + key })),
    ])
  }

  /** Log keys in (baseSeq, seq], how many of them hold an update, and their total size. */
  private async coveredLog(name: string, meta: DocMeta, seq: number): Promise<{ keys: string[]; updates: number; bytes: number }> {
    if (seq >= meta.seq) {
      // The snapshot covers the whole log, every seq of which is settled (no append came after
      // it), and the meta counts exactly the committed entries, so nothing needs reading.
      // Deleting a key that a failed write never stored is harmless.
      const keys: string[] = []
      for (let s = meta.baseSeq + 1; s <= meta.seq; s++) keys.push(logKey(name, s))
      return { keys, updates: meta.logUpdates, bytes: meta.logBytes }
    }
    const keys: string[] = []
    let bytes = 0
    for await (const [key, update] of this.log.iterator({ gt: logKey(name, meta.baseSeq), lte: logKey(name, seq) })) {
      keys.push(key)
      bytes += (update as Bytes).byteLength
    }
    return { keys, updates: keys.length, bytes }
  }

  private async mergeStored(name: string): Promise<Snapshot> {
    const { updates, seq } = await this.load(name)
    const doc = new Y.Doc({ guid: name }) // not a random UUID: see Room
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
    // Read past the cache, so asking about unknown names (REST) caches nothing. A meta that is
    // not cached has no unwritten changes, unless the process before this one crashed.
    const meta = this.metas.get(name) ?? (await this.recovered(name, (await this.meta.get(name)) as DocMeta | undefined))
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

  delete(name: string): Promise<boolean> {
    // Appends from now on wait for the delete; those already made are part of what it deletes.
    const previous = this.deletions.get(name)
    const before = [...(this.appending.get(name) ?? [])]
    const deleting = (previous ?? Promise.resolve()).then(() => this.deleteNow(name, before))
    const gate = deleting.then(() => {}, () => {})
    this.deletions.set(name, gate)
    void gate.then(() => this.deletions.get(name) === gate && this.deletions.delete(name))
    return deleting
  }

  private async deleteNow(name: string, appendsBefore: Array<Promise<unknown>>): Promise<boolean> {
    await Promise.allSettled(appendsBefore)
    await this.compactions.get(name)
    await this.settled()
    return this.versions.exclusive(name, async () => {
      const cached = this.metas.get(name)
      const meta = cached ?? ((await this.meta.get(name)) as DocMeta | undefined)
      const ops: BatchOp[] = [
        { type: 'del', sublevel: this.meta, key: name },
        { type: 'del', sublevel: this.base, key: name },
        ...(await this.versions.deleteAllOps(name)),
      ]
      for await (const key of this.log.keys({ gte: logKey(name, 0), lt: logRangeEnd(name) })) {
        ops.push({ type: 'del', sublevel: this.log, key })
      }
      // Forget the meta before queueing, or the batch would write the cached copy back.
      const wasDirty = this.dirty.delete(name)
      this.metas.delete(name)
      this.releasedMetas.delete(name)
      this.recentBases.delete(name)
      try {
        await this.writer.add(ops)
      } catch (error) {
        // Nothing was deleted. The cached meta may be ahead of the stored one (seqs of earlier
        // failed writes): put it back rather than let the next read go back to the older one.
        if (cached && !this.metas.has(name)) {
          this.metas.set(name, cached)
          if (wasDirty) this.dirty.add(name)
        }
        throw error
      }
      if (meta) this.superseded.set(name, (this.superseded.get(name) ?? 0) + meta.baseBytes + meta.logBytes)
      return (meta?.seq ?? 0) > 0
    })
  }

  release(name: string): void {
    // Counters only appends moved are written now rather than within the second.
    if (this.stale.delete(name)) {
      this.dirty.add(name)
      void this.settled()
    }
    // A meta that is dirty or in flight is ahead of the disk; dropping it would let a later read
    // go back to an older seq.
    const meta = this.metas.get(name)
    if (meta && !this.dirty.has(name) && !this.committing.has(name) && !this.compactions.has(name)) {
      this.metas.delete(name)
      this.releasedMetas.delete(name)
      this.releasedMetas.set(name, meta)
      if (this.releasedMetas.size > RELEASED_METAS) this.releasedMetas.delete(this.releasedMetas.keys().next().value!)
    }
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
    for (const name of this.stale.keys()) this.dirty.add(name)
    this.stale.clear()
    await this.writer.barrier().catch(() => {})
    await this.db.close()
    openInThisProcess.delete(this.path)
  }

  /**
   * Writes one group-commit batch. A chained batch hands each operation to LevelDB's WriteBatch
   * as it comes; the array form clones and re-encodes every operation first (abstract-level's
   * #arrayBatch: 16 % of the CPU of a 259,778-update upload).
   */
  private async commitBatch(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    const batch = this.db.batch()
    for (const op of ops) {
      if (!('sublevel' in op)) {
        if (op.type === 'put') batch.put(op.key, op.value)
        else batch.del(op.key)
      } else if (op.type === 'put') batch.put(op.key, op.value as Bytes, { sublevel: op.sublevel as never })
      else batch.del(op.key, { sublevel: op.sublevel as never })
    }
    await batch.write({ sync })
  }

  /** The meta in memory, taken back from the released ones if there; synchronous, so callers keep their order. */
  private cachedMeta(name: string): DocMeta | undefined {
    const cached = this.metas.get(name)
    if (cached) return cached
    const released = this.releasedMetas.get(name)
    if (!released) return undefined
    this.releasedMetas.delete(name)
    this.metas.set(name, released)
    return released
  }

  private readMeta(name: string): Promise<DocMeta> {
    const cached = this.cachedMeta(name)
    if (cached) return Promise.resolve(cached)
    let read = this.metaReads.get(name)
    if (!read) {
      read = (async () => {
        const [stored, lastLogged] = await Promise.all([
          this.meta.get(name) as Promise<DocMeta | undefined>,
          this.lastLoggedSeq(name),
        ])
        const now = Date.now()
        const cached = this.metas.get(name)
        if (cached) return cached
        const meta = (await this.recovered(name, stored, lastLogged)) ?? {
          seq: 0, baseSeq: 0, baseBytes: 0, logUpdates: 0, logBytes: 0, createdAt: now, updatedAt: now,
        }
        if (stored && meta.seq > stored.seq) this.dirty.add(name) // write the recount
        this.metas.set(name, meta)
        return meta
      })()
      this.metaReads.set(name, read)
      const forget = () => this.metaReads.delete(name)
      read.then(forget, forget)
    }
    return read
  }

  /**
   * `stored` made exact again if the log goes past it (the meta lags its appends by up to a
   * second, so a crash leaves it behind): seq continues above the last entry, and the entries
   * after the base are counted afresh. Undefined if neither a meta nor a log entry exists.
   */
  private async recovered(name: string, stored: DocMeta | undefined, lastLogged?: number): Promise<DocMeta | undefined> {
    const last = lastLogged ?? (await this.lastLoggedSeq(name))
    if (last <= (stored?.seq ?? 0)) return stored
    const now = Date.now()
    const meta: DocMeta = stored ? { ...stored } : { seq: 0, baseSeq: 0, baseBytes: 0, logUpdates: 0, logBytes: 0, createdAt: now, updatedAt: now }
    meta.seq = last
    meta.logUpdates = 0
    meta.logBytes = 0
    for await (const update of this.log.values({ gt: logKey(name, meta.baseSeq), lt: logRangeEnd(name) })) {
      meta.logUpdates++
      meta.logBytes += (update as Bytes).byteLength
    }
    return meta
  }

  /** Seq of the document's last log entry, 0 if none: one seek, once per cache miss. */
  private async lastLoggedSeq(name: string): Promise<number> {
    for await (const key of this.log.keys({ gt: logKey(name, 0), lt: logRangeEnd(name), reverse: true, limit: 1 })) {
      return seqOfLogKey(key)
    }
    return 0
  }

  /** Waits until everything queued so far is settled; a failure is reported to its own writers. */
  private settled(): Promise<void> {
    return this.writer.barrier().catch(() => {})
  }

  /**
   * Adds the meta of every dirty document to the batch about to be written, with the changes of
   * the compactions queued in it, and returns what the batch carries for batchCommitted/Failed.
   */
  private prepareBatch(ops: BatchOp[]): BatchState {
    const batch: BatchState = { metas: new Set(), compactions: this.pendingCompactions }
    this.pendingCompactions = new Map()
    const due = Date.now() - META_FLUSH_MS
    for (const [name, since] of this.stale) {
      if (since > due) break // in age order: the rest are younger
      this.dirty.add(name)
    }
    for (const name of this.dirty) {
      this.stale.delete(name)
      const meta = this.metas.get(name)
      if (!meta) continue
      const compaction = batch.compactions.get(name)
      ops.push({ type: 'put', sublevel: this.meta, key: name, value: compaction ? compacted(meta, compaction) : { ...meta } })
      batch.metas.add(name)
    }
    this.dirty.clear()
    this.committing = batch.metas
    return batch
  }

  /** The batch is on disk: its compactions become real in the cache too. */
  private batchCommitted(batch: BatchState): void {
    for (const [name, compaction] of batch.compactions) {
      const meta = this.metas.get(name)
      if (!meta) continue
      this.recentBases.set(name, compaction.baseSeq, compaction.state)
      this.superseded.set(name, (this.superseded.get(name) ?? 0) + meta.baseBytes + compaction.coveredBytes)
      Object.assign(meta, compacted(meta, compaction))
    }
  }

  /**
   * Nothing of the batch is on disk. Its seqs stay used (holes: the cached seqs never go back),
   * its updates no longer count as stored, its compactions are dropped (the cached meta never
   * took them), and the metas it carried are written again with the next batch, so that no
   * later batch commits log entries past the stored meta.
   */
  private batchFailed(ops: BatchOp[], batch: BatchState): void {
    for (const op of ops) {
      // Log appends are the puts with a prefixed key (appendNow).
      if (op.type !== 'put' || 'sublevel' in op || !op.key.startsWith(this.logPrefix)) continue
      const meta = this.metas.get(nameOfLogKey(op.key.slice(this.logPrefix.length)))
      if (!meta) continue
      meta.logUpdates = Math.max(0, meta.logUpdates - 1)
      meta.logBytes = Math.max(0, meta.logBytes - (op.value as Bytes).byteLength)
    }
    for (const name of batch.metas) if (this.metas.has(name)) this.dirty.add(name)
  }
}
