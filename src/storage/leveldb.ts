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
 * and deletes write it at once, and counters moved by appends are written at most once a second,
 * and at close (level-metas.ts keeps that bookkeeping). After a crash the stored meta may lag its
 * log by that second: whoever reads it first (LevelMetas.read, info) finds the log's last seq past
 * it and recounts the entries after the base, so seqs, counts and sizes are exact again.
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
import { docFromUpdates } from '../content/update.js'
import { Level } from 'level'
import { GroupCommit } from './group-commit.js'
import { LevelMetas, type BatchState, type PendingCompaction } from './level-metas.js'
import { LevelVersions } from './versions.js'
import { LevelEventOutbox } from './level-outbox.js'
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

/** Data directories (resolved) that a store of this process has open. */
const openInThisProcess = new Set<string>()

export class LevelDocStore implements DocStore {
  private readonly meta: Sub<DocMeta>
  private readonly base: Sub<Bytes>
  private readonly log: Sub<Bytes>
  /** The log sublevel's key prefix, for appends written without per-operation sublevel encoding. */
  private readonly logPrefix: string
  private readonly metas: LevelMetas
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
    this.metas = new LevelMetas(this.meta, this.log, (name, before, compaction) => {
      this.superseded.set(name, (this.superseded.get(name) ?? 0) + before.baseBytes + compaction.coveredBytes)
    })
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
          this.metas.failed(ops, batch, this.logPrefix)
          throw error
        }
        this.metas.committed(batch)
      },
      (ops) => this.metas.prepare(ops),
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
    const meta = await this.metas.read(name)
    // Every seq assigned so far is settled (committed, or failed and left as a hole) once the
    // barrier resolves, so the result may claim it; later appends are not waited for.
    const last = meta.seq
    await this.settled()
    if (meta.seq === meta.baseSeq) {
      // Nothing in the log (all folded into the base, as after an unload, or a new document): one
      // read, no snapshot, no iterator — those took ~20 % of the churn bench's CPU. Or no read at all:
      // documents opened and closed again without edits (nothing to compact) are cached here too.
      const baseSeq = meta.baseSeq
      let base = this.metas.recentBases.get(name, baseSeq)
      if (!base) {
        base = (await this.base.get(name)) as Bytes | undefined
        if (base && meta.baseSeq === baseSeq && meta.seq === baseSeq) this.metas.recentBases.set(name, baseSeq, base)
      }
      return { updates: base ? [base] : [], seq: last }
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
    const meta = this.metas.cached(name) ?? (await this.metas.read(name))
    const seq = ++meta.seq
    meta.logUpdates++
    meta.logBytes += update.byteLength
    meta.updatedAt = Date.now()
    // A new document's meta goes with its first update: `list` finds documents by their metas.
    this.metas.appended(name, meta, seq)
    // The log's prefix is added here rather than by abstract-level per operation: the append is
    // the hot path, and the sublevel branch of its batch encoding was ~2 % of a fanout run's CPU.
    await this.writer.add([{ type: 'put', key: this.logPrefix + logKey(name, seq), value: update }])
    return {
      seq,
      compactionDue: meta.logUpdates >= this.compactAfterUpdates || meta.logBytes >= this.compactAfterBytes,
    }
  }

  async readSince(name: string, seq: number): Promise<LogEntry[] | null> {
    const meta = await this.metas.read(name)
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
    const meta = await this.metas.read(name)
    if (snapshot.seq <= meta.baseSeq) return
    const covered = await this.coveredLog(name, meta, snapshot.seq)
    // The cached meta stays as it is until the batch commits (LevelMetas.committed): appends queued
    // meanwhile keep counting on it, and if the batch fails there is nothing to undo.
    const compaction: PendingCompaction = {
      baseSeq: snapshot.seq,
      baseBytes: snapshot.state.byteLength,
      state: snapshot.state,
      coveredUpdates: covered.updates,
      coveredBytes: covered.bytes,
    }
    this.metas.compactionQueued(name, compaction)
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
    const doc = docFromUpdates(updates, name)
    try {
      return { state: Y.encodeStateAsUpdate(doc), seq }
    } finally {
      doc.destroy()
    }
  }

  async info(name: string): Promise<DocInfo | null> {
    // Read past the cache, so asking about unknown names (REST) caches nothing. A meta that is
    // not cached has no unwritten changes, unless the process before this one crashed.
    const meta = this.metas.peek(name) ?? (await this.metas.recovered(name, (await this.meta.get(name)) as DocMeta | undefined))
    return meta && meta.seq > 0 ? docInfo(name, meta) : null
  }

  async list({ prefix = '', after, limit }: ListOptions): Promise<DocInfo[]> {
    const docs: DocInfo[] = []
    // Names starting with `prefix` sort at or after it, so the scan stops at the first that does not.
    const range = after !== undefined && after.startsWith(prefix) ? { gt: after } : { gte: prefix }
    for await (const [name, stored] of this.meta.iterator(range)) {
      if (docs.length >= limit || !name.startsWith(prefix)) break
      docs.push(docInfo(name, this.metas.peek(name) ?? (stored as DocMeta)))
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
      const meta = this.metas.peek(name) ?? ((await this.meta.get(name)) as DocMeta | undefined)
      const ops: BatchOp[] = [
        { type: 'del', sublevel: this.meta, key: name },
        { type: 'del', sublevel: this.base, key: name },
        ...(await this.versions.deleteAllOps(name)),
      ]
      for await (const key of this.log.keys({ gte: logKey(name, 0), lt: logRangeEnd(name) })) {
        ops.push({ type: 'del', sublevel: this.log, key })
      }
      const restore = this.metas.forget(name)
      try {
        await this.writer.add(ops)
      } catch (error) {
        restore()
        throw error
      }
      if (meta) this.superseded.set(name, (this.superseded.get(name) ?? 0) + meta.baseBytes + meta.logBytes)
      return (meta?.seq ?? 0) > 0
    })
  }

  release(name: string): void {
    // Counters only appends moved are written now rather than within the second.
    if (this.metas.release(name, this.compactions.has(name))) void this.settled()
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
    this.metas.flushAll()
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

  /** Waits until everything queued so far is settled; a failure is reported to its own writers. */
  private settled(): Promise<void> {
    return this.writer.barrier().catch(() => {})
  }
}
