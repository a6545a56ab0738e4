/**
 * The documents' metas of a LevelDocStore in memory, and which of them each group-commit batch
 * writes (see leveldb.ts for the rules this keeps after a failed batch or a crash).
 *
 * A cached meta is ahead of the stored one between an append and the batch that next writes it:
 * such a document is `dirty` (written with the next batch: its first append, compactions) or
 * `stale` (counters only appends moved, written within META_FLUSH_MS). Compactions change a meta
 * only once their batch has committed: until then their changes wait in `pendingCompactions`.
 */
import { RecentBases } from './recent-bases.js'
import { logKey, logRangeEnd, nameOfLogKey, seqOfLogKey, type BatchOp, type Bytes, type DocMeta, type Sub } from './level-layout.js'

/** Longest a document's stored meta lags behind its cached one because of appends. */
const META_FLUSH_MS = 1000
/** Metas of released documents kept (see `released`): ~200 bytes each, 2 MB at most. */
const RELEASED_METAS = 10_000
/** Bytes of recently compacted documents' bases kept in memory (see RecentBases). */
const RECENT_BASE_BYTES = 16 * 1024 * 1024

/** A compaction's changes to its document's meta, applied only when its batch commits. */
export interface PendingCompaction {
  baseSeq: number
  baseBytes: number
  state: Uint8Array
  /** Log entries, and their bytes, that the new base replaces. */
  coveredUpdates: number
  coveredBytes: number
}

/** What a group-commit batch carries besides its operations; see `prepare`. */
export interface BatchState {
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

const emptyMeta = (now: number): DocMeta => ({ seq: 0, baseSeq: 0, baseBytes: 0, logUpdates: 0, logBytes: 0, createdAt: now, updatedAt: now })

export class LevelMetas {
  private readonly cache = new Map<string, DocMeta>()
  /**
   * Metas of released documents, exact on disk, most recent last (at most RELEASED_METAS): a
   * document loaded again soon (reconnects, churn) skips the meta read and the log scan that
   * checks it — together ~25 % of the churn bench's CPU.
   */
  private readonly released = new Map<string, DocMeta>()
  /** Bases of the latest committed compactions, for loads that need nothing else. */
  readonly recentBases = new RecentBases(RECENT_BASE_BYTES)
  private readonly reads = new Map<string, Promise<DocMeta>>()
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

  constructor(
    private readonly meta: Sub<DocMeta>,
    private readonly log: Sub<Bytes>,
    /** Called for each compaction a batch committed, with the meta as it was before it. */
    private readonly onCompacted: (name: string, before: DocMeta, compaction: PendingCompaction) => void,
  ) {}

  /** The meta in memory, taken back from the released ones if there; synchronous, so callers keep their order. */
  cached(name: string): DocMeta | undefined {
    const cached = this.cache.get(name)
    if (cached) return cached
    const released = this.released.get(name)
    if (!released) return undefined
    this.released.delete(name)
    this.cache.set(name, released)
    return released
  }

  /** The cached meta if any, without taking a released one back (info, list, delete). */
  peek(name: string): DocMeta | undefined {
    return this.cache.get(name)
  }

  /** The meta, cached from now on: read once per cache miss, however many callers ask meanwhile. */
  read(name: string): Promise<DocMeta> {
    const cached = this.cached(name)
    if (cached) return Promise.resolve(cached)
    let read = this.reads.get(name)
    if (!read) {
      read = (async () => {
        const [stored, lastLogged] = await Promise.all([this.meta.get(name) as Promise<DocMeta | undefined>, this.lastLoggedSeq(name)])
        const now = Date.now()
        const cached = this.cache.get(name)
        if (cached) return cached
        const meta = (await this.recovered(name, stored, lastLogged)) ?? emptyMeta(now)
        if (stored && meta.seq > stored.seq) this.dirty.add(name) // write the recount
        this.cache.set(name, meta)
        return meta
      })()
      this.reads.set(name, read)
      const forget = () => this.reads.delete(name)
      read.then(forget, forget)
    }
    return read
  }

  /**
   * `stored` made exact again if the log goes past it (the meta lags its appends by up to a
   * second, so a crash leaves it behind): seq continues above the last entry, and the entries
   * after the base are counted afresh. Undefined if neither a meta nor a log entry exists.
   */
  async recovered(name: string, stored: DocMeta | undefined, lastLogged?: number): Promise<DocMeta | undefined> {
    const last = lastLogged ?? (await this.lastLoggedSeq(name))
    if (last <= (stored?.seq ?? 0)) return stored
    const meta: DocMeta = stored ? { ...stored } : emptyMeta(Date.now())
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

  /** An append moved `meta` (cached) to `seq`: a new document's meta goes with its first update. */
  appended(name: string, meta: DocMeta, seq: number): void {
    if (seq === 1) this.dirty.add(name)
    else if (!this.stale.has(name)) this.stale.set(name, meta.updatedAt)
  }

  /** Queued in the same turn as the compaction's operations, so both go in the same batch. */
  compactionQueued(name: string, compaction: PendingCompaction): void {
    this.pendingCompactions.set(name, compaction)
    this.dirty.add(name)
  }

  /**
   * Forgets a document about to be deleted (before its batch is queued, or the batch would write
   * the cached meta back). Returns what puts the cache back should the delete's batch fail.
   */
  forget(name: string): () => void {
    const cached = this.cache.get(name)
    const wasDirty = this.dirty.delete(name)
    this.cache.delete(name)
    this.released.delete(name)
    this.recentBases.delete(name)
    return () => {
      // Nothing was deleted. The cached meta may be ahead of the stored one (seqs of earlier
      // failed writes): put it back rather than let the next read go back to the older one.
      if (cached && !this.cache.has(name)) {
        this.cache.set(name, cached)
        if (wasDirty) this.dirty.add(name)
      }
    }
  }

  /**
   * The document is no longer served. Counters only appends moved are written with the next batch
   * rather than within the second (true: the caller must see that a batch runs). Its meta moves
   * to the released ones unless it is ahead of the disk (dirty, in flight, or `busy`: a
   * compaction is under way): dropping it would let a later read go back to an older seq.
   */
  release(name: string, busy: boolean): boolean {
    const flush = this.stale.delete(name)
    if (flush) this.dirty.add(name)
    const meta = this.cache.get(name)
    if (meta && !busy && !this.dirty.has(name) && !this.committing.has(name)) {
      this.cache.delete(name)
      this.released.delete(name)
      this.released.set(name, meta)
      if (this.released.size > RELEASED_METAS) this.released.delete(this.released.keys().next().value!)
    }
    return flush
  }

  /** At close: every meta still ahead of the disk goes with the last batch. */
  flushAll(): void {
    for (const name of this.stale.keys()) this.dirty.add(name)
    this.stale.clear()
  }

  /**
   * Adds the meta of every dirty document to the batch about to be written, with the changes of
   * the compactions queued in it, and returns what the batch carries for committed/failed.
   */
  prepare(ops: BatchOp[]): BatchState {
    const batch: BatchState = { metas: new Set(), compactions: this.pendingCompactions }
    this.pendingCompactions = new Map()
    const due = Date.now() - META_FLUSH_MS
    for (const [name, since] of this.stale) {
      if (since > due) break // in age order: the rest are younger
      this.dirty.add(name)
    }
    for (const name of this.dirty) {
      this.stale.delete(name)
      const meta = this.cache.get(name)
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
  committed(batch: BatchState): void {
    this.committing = new Set()
    for (const [name, compaction] of batch.compactions) {
      const meta = this.cache.get(name)
      if (!meta) continue
      this.recentBases.set(name, compaction.baseSeq, compaction.state)
      this.onCompacted(name, meta, compaction)
      Object.assign(meta, compacted(meta, compaction))
    }
  }

  /**
   * Nothing of the batch is on disk. Its seqs stay used (holes: the cached seqs never go back),
   * its updates no longer count as stored, its compactions are dropped (the cached meta never
   * took them), and the metas it carried are written again with the next batch, so that no
   * later batch commits log entries past the stored meta.
   */
  failed(ops: BatchOp[], batch: BatchState, logPrefix: string): void {
    this.committing = new Set()
    for (const op of ops) {
      // Log appends are the puts with a prefixed key (appendNow).
      if (op.type !== 'put' || 'sublevel' in op || !op.key.startsWith(logPrefix)) continue
      const meta = this.cache.get(nameOfLogKey(op.key.slice(logPrefix.length)))
      if (!meta) continue
      meta.logUpdates = Math.max(0, meta.logUpdates - 1)
      meta.logBytes = Math.max(0, meta.logBytes - (op.value as Bytes).byteLength)
    }
    for (const name of batch.metas) if (this.cache.has(name)) this.dirty.add(name)
  }
}
