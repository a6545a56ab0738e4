/**
 * "A store or a server": what the operator commands need from the place documents live. Each
 * command is written once against this interface; store-backend.ts implements it on a DocStore
 * (a stopped server's LevelDB directory or a PostgreSQL database), server-backend.ts on a running
 * server's REST API (the only way to reach a LevelDB directory a server holds open).
 */
import type { VersionInfo } from '../storage/doc-store.js'
import type { BackupDocument } from './backup-format.js'
import type { RestoreResult, RestoreSummary } from './restore-document.js'

export interface DocMeta {
  name: string
  /** Last sequence number: updates ever stored. */
  seq: number
  /** Stored bytes: compacted state plus log. */
  bytes: number
  /** Updates in the log not yet compacted; undefined when a server does not say. */
  logUpdates?: number
  createdAt?: number
  updatedAt?: number
  /** Running server only: loaded in memory, and its live connections. */
  loaded?: boolean
  connections?: number
}

export interface Compaction {
  name: string
  before: { bytes: number; logUpdates: number }
  after: { bytes: number; logUpdates: number }
}

export interface ImportResult {
  /** The document did not exist before. */
  created: boolean
  /** The update added something; null when the server does not say. */
  changed: boolean | null
}

/** Per document while restoring: `result` where the outcome is known as it happens (a store). */
export type RestoreProgress = (event: { name: string; index: number; result?: RestoreResult }) => void

export interface Backend {
  readonly kind: 'store' | 'server'
  /** For messages: the directory, the database (without password), or the server URL. */
  readonly where: string
  info(name: string): Promise<DocMeta | null>
  /** The content as one Yjs v1 update (Y.encodeStateAsUpdate of the loaded document); null if unknown. */
  content(name: string): Promise<Uint8Array | null>
  /** Oldest first; empty for an unknown document. */
  versions(name: string): Promise<VersionInfo[]>
  /** Applies a checked v1 update as a server edit would, creating the document if needed. */
  importUpdate(name: string, update: Uint8Array): Promise<ImportResult>
  /** Folds the document's log into its stored state; null if unknown. */
  compact(name: string): Promise<Compaction | null>
  /** Every stored document's name, in name order. */
  names(): AsyncGenerator<string>
  /** How many documents there are, if that is cheap to know (a store); else null. */
  count(): Promise<number | null>
  /** Every document with its versions, one at a time, each read consistently. */
  backup(): AsyncGenerator<BackupDocument>
  restore(documents: AsyncIterable<BackupDocument>, progress: RestoreProgress): Promise<RestoreSummary>
  close(): Promise<void>
}
