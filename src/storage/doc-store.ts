import type { EventOutbox } from './event-outbox.js'

/**
 * What Quire needs from durable storage. Every appended update gets a per-document sequence
 * number, increasing in append order, so that a reader can ask for "everything after seq N"
 * (catch-up after a gap, and later the scale-out bridge). Seqs are contiguous unless a write
 * failed: a failed append's seq is never handed out again (it stays a hole), so a seq always
 * names at most one stored update.
 */
export interface DocStore {
  /**
   * Everything stored for a document: the compacted state first, then the log after it. The
   * returned seq never names an update that is not returned (or not yet committed).
   */
  load(name: string): Promise<LoadedDoc>
  /**
   * Appends one update. Resolves once it is durable (committed with the other updates of the
   * same event-loop turn), with its sequence number and whether the log is due for compaction.
   */
  append(name: string, update: Uint8Array): Promise<AppendResult>
  /**
   * Updates with seq > `seq`: exactly seq+1, seq+2, … up to at least the last seq assigned when
   * called. Null (load the whole document instead) when that run is not all in the log:
   * compaction folded some of it away, or a failed write left a hole in it.
   */
  readSince(name: string, seq: number): Promise<LogEntry[] | null>
  /**
   * Replaces the log up to `snapshot.seq` with `snapshot.state` in one atomic write. Without a
   * snapshot the store merges its own base and log. Updates appended meanwhile are kept. A
   * snapshot at or below the current compacted state changes nothing, and compacting a document
   * that was never stored does not create it.
   */
  compact(name: string, snapshot?: Snapshot): Promise<void>
  /** Size and history of a document, without reading its contents; null if it was never stored. */
  info(name: string): Promise<DocInfo | null>
  /** Stored documents in name order (UTF-8 bytes), from their metadata only, never their contents. */
  list(options: ListOptions): Promise<DocInfo[]>
  /**
   * Removes everything stored for a document (state, log, versions) in one atomic write. Appends
   * made before the call are deleted with it; appends made after it wait for it and start a new
   * document, whose seqs continue from `load(name).seq` (a store may restart them at 1). False if
   * nothing was stored.
   */
  delete(name: string): Promise<boolean>
  /** Named full-state versions of stored documents. */
  readonly versions: VersionStore
  /** Change-event bookkeeping (event-outbox.ts); stores without it cannot send change events. */
  readonly events?: EventOutbox
  /** The caller is done with this document for now (its room unloaded): drop cached state. */
  release(name: string): void
  /** False before open and after close; `/readyz` reports it. Stores without it count as open. */
  isOpen?(): boolean
  close(): Promise<void>
}

export interface LoadedDoc {
  /** Yjs v1 updates in the order they must be applied. */
  updates: Uint8Array[]
  /** Every update stored with a seq up to this one is included. 0 for a new document. */
  seq: number
}

export interface AppendResult {
  seq: number
  compactionDue: boolean
}

export interface LogEntry {
  seq: number
  update: Uint8Array
}

export interface Snapshot {
  /** The merged state as a Yjs v1 update. */
  state: Uint8Array
  /** Every update with a sequence number up to this one is contained in `state`. */
  seq: number
}

export interface DocInfo {
  name: string
  /** Last assigned sequence number: the number of updates ever stored, plus any failed appends. */
  seq: number
  /** Bytes on disk for this document: compacted state plus log. */
  bytes: number
  /** Updates in the log not yet folded into the compacted state. */
  logUpdates: number
  createdAt: number
  updatedAt: number
}

export interface ListOptions {
  /** Only names starting with this. */
  prefix?: string
  /** Only names after this one (the last name of the previous page); must start with `prefix`. */
  after?: string
  limit: number
}

export interface VersionStore {
  /**
   * Stores `state` (a Yjs v1 update) as the document's next version; null if the document is not
   * stored. Versions take no seq: they are not updates.
   */
  create(name: string, label: string, state: Uint8Array): Promise<VersionInfo | null>
  /** The document's versions, oldest first. */
  list(name: string): Promise<VersionInfo[]>
  read(name: string, id: number): Promise<StoredVersion | null>
}

export interface VersionInfo {
  /** 1, 2, 3… per document, never reused while the document exists. */
  id: number
  label: string
  createdAt: number
  /** Size of the stored state. */
  bytes: number
}

export interface StoredVersion {
  info: VersionInfo
  /** The full state as a Yjs v1 update. */
  state: Uint8Array
}

/** Raised when another process holds the data directory. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: 'this process' | 'another process' = 'another process',
  ) {
    super(
      holder === 'this process'
        ? `data dir ${dataDir} is already open in this process: give each server its own dataDir, or share one store with the \`store\` option`
        : `data dir ${dataDir} is in use by another process`,
    )
    this.name = 'DataDirInUseError'
  }
}
