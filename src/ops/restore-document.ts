/**
 * Restoring one document of a backup into a place that may already hold it. Written once against
 * a small interface, for `quire restore` on a stopped store and `POST /api/restore` on a running
 * server (which must write through its rooms).
 *
 * The rules make a restore safe to run again, also after an interruption (as `quire migrate`):
 *   - the document does not exist: it is created with the backup's content, then its versions
 *     are added in id order (ids count 1, 2, 3… per document, so they come out the same);
 *   - same content and the same versions: skipped;
 *   - same content and the first versions only (a restore stopped midway): the rest are added;
 *   - anything else is a conflict: reported and left alone. Nothing is ever overwritten.
 */
import * as Y from 'yjs'
import { missingDependency } from '../content/dependencies.js'
import type { StoredVersion, VersionInfo } from '../storage/doc-store.js'
import { BackupFormatError, type BackupDocument } from './backup-format.js'
import { sameState } from './migrate.js'

export interface RestoreTarget {
  /** The content as one update (Y.encodeStateAsUpdate of the loaded document); null if it does not exist. */
  content(name: string): Promise<Uint8Array | null>
  versions: {
    list(name: string): Promise<VersionInfo[]>
    read(name: string, id: number): Promise<StoredVersion | null>
    /** Adds the document's next version; null if the document does not exist (any more). */
    create(name: string, label: string, state: Uint8Array): Promise<VersionInfo | null>
  }
  /** Creates the document with `content` (it did not exist a moment ago). */
  create(name: string, content: Uint8Array): Promise<void>
}

export type RestoreOutcome = 'restored' | 'completed' | 'skipped' | 'conflict'

export interface RestoreResult {
  name: string
  outcome: RestoreOutcome
  /** Versions added. */
  versions: number
  /** Content and version bytes written. */
  bytes: number
  /** Why a conflict is one. */
  reason?: string
}

export interface RestoreSummary {
  documents: number
  restored: number
  completed: number
  skipped: number
  conflicts: number
  versions: number
  bytes: number
  /** The conflicting documents, with the reason. */
  conflicted: Array<{ name: string; reason: string }>
}

export const emptySummary = (): RestoreSummary => ({
  documents: 0, restored: 0, completed: 0, skipped: 0, conflicts: 0, versions: 0, bytes: 0, conflicted: [],
})

export function tally(summary: RestoreSummary, result: RestoreResult): void {
  summary.documents++
  if (result.outcome === 'conflict') {
    summary.conflicts++
    summary.conflicted.push({ name: result.name, reason: result.reason ?? 'differs' })
  } else {
    summary[result.outcome]++
  }
  summary.versions += result.versions
  summary.bytes += result.bytes
}

/**
 * Throws BackupFormatError unless the content and every version state are Yjs updates that
 * apply completely to an empty document, as full states do. A checksum only says the bytes are
 * the ones written; this says a store may hold them.
 */
export function checkDocument(doc: BackupDocument): void {
  const check = (bytes: Uint8Array, what: string) => {
    const empty = new Y.Doc()
    let missing: string | null
    try {
      Y.decodeUpdate(bytes)
      missing = missingDependency(empty, bytes)
    } catch {
      throw new BackupFormatError(`${what} of ${JSON.stringify(doc.name)} is not a Yjs update`)
    } finally {
      empty.destroy()
    }
    if (missing !== null) throw new BackupFormatError(`${what} of ${JSON.stringify(doc.name)} is not a complete state: ${missing}`)
  }
  check(doc.content, 'the content')
  for (const version of doc.versions) check(version.state, `version ${version.id}`)
}

export async function restoreDocument(target: RestoreTarget, doc: BackupDocument): Promise<RestoreResult> {
  checkDocument(doc)
  const { name } = doc
  const existing = await target.content(name)
  if (existing === null) {
    await target.create(name, doc.content)
    const added = await addVersions(target, doc, 0)
    return { name, outcome: 'restored', versions: added.count, bytes: doc.content.byteLength + added.bytes }
  }
  const conflict = (reason: string): RestoreResult => ({ name, outcome: 'conflict', versions: 0, bytes: 0, reason })
  if (!sameState([existing], [doc.content])) return conflict('it exists with other content than the backup')
  const present = await target.versions.list(name)
  if (present.length > doc.versions.length) return conflict(`it has ${present.length} versions, the backup ${doc.versions.length}`)
  for (const [i, theirs] of present.entries()) {
    const ours = doc.versions[i]!
    if (theirs.id !== ours.id || theirs.label !== ours.label || theirs.bytes !== ours.state.byteLength) {
      return conflict(`its version ${theirs.id} differs from the backup's`)
    }
    const stored = await target.versions.read(name, theirs.id)
    if (!stored || Buffer.compare(stored.state, ours.state) !== 0) return conflict(`its version ${theirs.id} differs from the backup's`)
  }
  if (present.length === doc.versions.length) return { name, outcome: 'skipped', versions: 0, bytes: 0 }
  const added = await addVersions(target, doc, present.length)
  return { name, outcome: 'completed', versions: added.count, bytes: added.bytes }
}

async function addVersions(target: RestoreTarget, doc: BackupDocument, from: number): Promise<{ count: number; bytes: number }> {
  let bytes = 0
  for (const version of doc.versions.slice(from)) {
    const created = await target.versions.create(doc.name, version.label, version.state)
    if (!created) throw new Error(`${JSON.stringify(doc.name)} was deleted while its versions were being restored`)
    bytes += version.state.byteLength
  }
  return { count: doc.versions.length - from, bytes }
}
