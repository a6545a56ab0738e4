/**
 * What Quire needs from durable storage. Every appended update gets a per-document sequence
 * number, contiguous and assigned in append order, so that a reader can ask for "everything
 * after seq N" (catch-up after a gap, and later the scale-out bridge).
 */
export interface DocStore {
  /** Everything stored for a document: the compacted state first, then the log after it. */
  load(name: string): Promise<LoadedDoc>
  /**
   * Appends one update. Resolves once it is durable (committed with the other updates of the
   * same event-loop turn), with its sequence number and whether the log is due for compaction.
   */
  append(name: string, update: Uint8Array): Promise<AppendResult>
  /** Updates with seq > `seq`, or null when compaction already folded some of them away. */
  readSince(name: string, seq: number): Promise<LogEntry[] | null>
  /**
   * Replaces the log up to `snapshot.seq` with `snapshot.state` in one atomic write. Without a
   * snapshot the store merges its own base and log. Updates appended meanwhile are kept.
   */
  compact(name: string, snapshot?: Snapshot): Promise<void>
  /** Size and history of a document, without reading its contents; null if it was never stored. */
  info(name: string): Promise<DocInfo | null>
  /** The caller is done with this document for now (its room unloaded): drop cached state. */
  release(name: string): void
  close(): Promise<void>
}

export interface LoadedDoc {
  /** Yjs v1 updates in the order they must be applied. */
  updates: Uint8Array[]
  /** Sequence number of the last update included. 0 for a new document. */
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
  /** Last assigned sequence number, which is also the number of updates ever stored. */
  seq: number
  /** Bytes on disk for this document: compacted state plus log. */
  bytes: number
  /** Updates in the log not yet folded into the compacted state. */
  logUpdates: number
  createdAt: number
  updatedAt: number
}

/** Raised when another process holds the data directory. */
export class DataDirInUseError extends Error {
  constructor(readonly dataDir: string) {
    super(`data dir ${dataDir} is in use by another process`)
    this.name = 'DataDirInUseError'
  }
}
