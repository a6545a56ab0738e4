/**
 * Copying every document, with its named versions, from one DocStore to another.
 *
 * Safe to run again, and to run again after an interruption: each document is decided on its own,
 * from what the target already holds.
 *   - the target lacks it: its merged content is appended as one update and compacted, then its
 *     versions are created in id order with the same labels and state bytes (ids count 1, 2, 3…
 *     per document in every store, so they come out the same);
 *   - the target has the same content and the same versions: skipped;
 *   - the same content and the first versions only (a run stopped midway): the rest are created;
 *   - anything else is a conflict: reported, left untouched, and the run carries on.
 * Every write (an append, a compaction, a version) is atomic in both stores, so an interrupted run
 * leaves each document in one of these states and never a duplicated version.
 *
 * Versions get the time of the migration as `createdAt`: the DocStore interface has no way to set
 * it, and documents likewise get new `createdAt`/`updatedAt`.
 */
import * as Y from 'yjs'
import { docFromUpdates } from '../content/update.js'
import type { DocStore, VersionInfo } from '../storage/doc-store.js'

export type Outcome = 'copied' | 'completed' | 'skipped' | 'conflict'

export interface DocumentResult {
  name: string
  outcome: Outcome
  /** Versions created in the target. */
  versions: number
  /** Content and version bytes written to the target. */
  bytes: number
  /** Why a conflict is one. */
  reason?: string
}

export interface MigrationSummary {
  documents: number
  copied: number
  completed: number
  skipped: number
  conflicts: number
  versions: number
  bytes: number
  seconds: number
}

export interface MigrateOptions {
  /** Documents listed per page (default 100). */
  pageSize?: number
  /** Called once the number of documents is known (counted from metadata, before copying). */
  onTotal?(total: number): void
  /** Called after each document, in name order; `index` counts from 1. */
  onDocument?(result: DocumentResult, index: number): void
}

/** An update that adds nothing: stored for a document whose source holds no updates at all. */
// Made on first use: the first Y.Doc seeds lib0's random ids through WebCrypto, ~2 ms better spent after listening (measured).
let emptyUpdate: Uint8Array | undefined

export async function migrate(source: DocStore, target: DocStore, options: MigrateOptions = {}): Promise<MigrationSummary> {
  const started = performance.now()
  const pageSize = options.pageSize ?? 100
  const summary: MigrationSummary = { documents: 0, copied: 0, completed: 0, skipped: 0, conflicts: 0, versions: 0, bytes: 0, seconds: 0 }
  if (options.onTotal) options.onTotal(await countDocuments(source, 1000))
  for await (const name of documentNames(source, pageSize)) {
    let result: DocumentResult
    try {
      result = await migrateDocument(source, target, name)
    } catch (error) {
      throw new Error(`${JSON.stringify(name)}: ${(error as Error).message}`, { cause: error })
    }
    // Neither store needs this document's cached metadata again; dropping it keeps memory flat.
    source.release(name)
    target.release(name)
    summary.documents++
    summary[result.outcome === 'conflict' ? 'conflicts' : result.outcome]++
    summary.versions += result.versions
    summary.bytes += result.bytes
    options.onDocument?.(result, summary.documents)
  }
  summary.seconds = (performance.now() - started) / 1000
  return summary
}

/** Names in the store's order, one page in memory at a time. */
async function* documentNames(store: DocStore, pageSize: number): AsyncGenerator<string> {
  let after: string | undefined
  for (;;) {
    const page = await store.list({ after, limit: pageSize })
    for (const info of page) yield info.name
    if (page.length < pageSize) return
    after = page[page.length - 1]!.name
  }
}

async function countDocuments(store: DocStore, pageSize: number): Promise<number> {
  let count = 0
  for await (const _name of documentNames(store, pageSize)) count++
  return count
}

export async function migrateDocument(source: DocStore, target: DocStore, name: string): Promise<DocumentResult> {
  const loaded = await source.load(name)
  const versions = await source.versions.list(name)
  const existing = await target.info(name)
  if (!existing) {
    const content = mergedContent(loaded.updates)
    await target.append(name, content)
    await target.compact(name)
    const copied = await copyVersions(source, target, name, versions)
    return { name, outcome: 'copied', versions: copied.count, bytes: content.byteLength + copied.bytes }
  }
  const conflict = (reason: string): DocumentResult => ({ name, outcome: 'conflict', versions: 0, bytes: 0, reason })
  if (!sameState(loaded.updates, (await target.load(name)).updates)) return conflict('its content in the target differs from the source')
  const present = await target.versions.list(name)
  if (present.length > versions.length) return conflict(`the target has ${present.length} versions, the source ${versions.length}`)
  for (const [i, theirs] of present.entries()) {
    const ours = versions[i]!
    if (!(await sameVersion(source, target, name, ours, theirs))) return conflict(`version ${theirs.id} differs between source and target`)
  }
  // A run stopped between the append and the compaction leaves the content as a log entry.
  if (existing.logUpdates > 0) await target.compact(name)
  if (present.length === versions.length) return { name, outcome: 'skipped', versions: 0, bytes: 0 }
  const copied = await copyVersions(source, target, name, versions.slice(present.length))
  return { name, outcome: 'completed', versions: copied.count, bytes: copied.bytes }
}

async function copyVersions(source: DocStore, target: DocStore, name: string, versions: VersionInfo[]): Promise<{ count: number; bytes: number }> {
  let bytes = 0
  for (const version of versions) {
    const stored = await source.versions.read(name, version.id)
    if (!stored) throw new Error(`version ${version.id} of ${JSON.stringify(name)} vanished from the source while it was copied`)
    const created = await target.versions.create(name, stored.info.label, stored.state)
    if (!created) throw new Error(`${JSON.stringify(name)} vanished from the target while its versions were copied`)
    bytes += stored.state.byteLength
  }
  return { count: versions.length, bytes }
}

async function sameVersion(source: DocStore, target: DocStore, name: string, ours: VersionInfo, theirs: VersionInfo): Promise<boolean> {
  if (ours.id !== theirs.id || ours.label !== theirs.label || ours.bytes !== theirs.bytes) return false
  const [a, b] = await Promise.all([source.versions.read(name, ours.id), target.versions.read(name, theirs.id)])
  return a !== null && b !== null && equalBytes(a.state, b.state)
}

function mergedContent(updates: Uint8Array[]): Uint8Array {
  if (updates.length === 0) return (emptyUpdate ??= Y.encodeStateAsUpdate(new Y.Doc()))
  return updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates)
}

/**
 * Whether two stored histories decode to the same document: the same state vector, and the same
 * encoded state, or, when the two encodings split items differently, the same deletions and
 * nothing pending on either side.
 */
export function sameState(a: Uint8Array[], b: Uint8Array[]): boolean {
  const [left, right] = [docFromUpdates(a), docFromUpdates(b)]
  try {
    if (!equalBytes(Y.encodeStateVector(left), Y.encodeStateVector(right))) return false
    if (equalBytes(Y.encodeStateAsUpdate(left), Y.encodeStateAsUpdate(right))) return true
    const settled = (doc: Y.Doc) => doc.store.pendingStructs === null && doc.store.pendingDs === null
    return settled(left) && settled(right) && Y.equalSnapshots(Y.snapshot(left), Y.snapshot(right))
  } finally {
    left.destroy()
    right.destroy()
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}
