/**
 * Restoring a version as a new edit. Yjs cannot undelete, so content the version has and the
 * document deleted since must be inserted again, and content added since must be deleted — the
 * UndoManager does exactly that. Load the version into a scratch doc, apply everything the live
 * document added since as one tracked transaction, undo it, and hand the live document what the
 * undo produced. Undo re-inserts copies of deleted content at their old positions (map keys get
 * their old values back) and deletes what was added; content both have keeps its identity, so
 * relative positions (cursors) into it stay valid. Applied to the live document, that update makes
 * every top-level type equal the version, new types included (they end up empty).
 *
 * A document that already equals the version is left alone: the undo would otherwise delete
 * the copies an earlier restore made and insert new ones — same content, needless churn.
 */
import * as Y from 'yjs'
import { uint32 } from 'lib0/random'
import { sameContent } from './equal.js'

const REPLAYED = Symbol('changes since the version')

/**
 * The update that turns `live`'s content into the content of `versionState` (a v1 update), or
 * null if it already has that content.
 */
export function restoreUpdate(live: Y.Doc, versionState: Uint8Array): Uint8Array | null {
  if (alreadyEqual(live, versionState)) return null
  // gc off: the undo needs the content of what the replayed changes deleted.
  const scratch = new Y.Doc({ gc: false })
  // The undo writes as the scratch doc's client; it must be new to the live document.
  const liveClients = Y.decodeStateVector(Y.encodeStateVector(live))
  while (liveClients.has(scratch.clientID)) scratch.clientID = uint32()
  try {
    Y.applyUpdate(scratch, versionState)
    const undo = new Y.UndoManager(scratch, {
      trackedOrigins: new Set([REPLAYED]),
      captureTimeout: 0,
      // Map keys take the version's value even though the live document set a newer one.
      ignoreRemoteMapChanges: true,
    })
    Y.applyUpdate(scratch, Y.encodeStateAsUpdate(live, Y.encodeStateVector(scratch)), REPLAYED)
    undo.undo()
    undo.destroy()
    return Y.encodeStateAsUpdate(scratch, Y.encodeStateVector(live))
  } finally {
    scratch.destroy()
  }
}

function alreadyEqual(live: Y.Doc, versionState: Uint8Array): boolean {
  const [current, version] = [Y.encodeStateAsUpdate(live), versionState].map((update) => {
    const doc = new Y.Doc()
    Y.applyUpdate(doc, update)
    return doc
  }) as [Y.Doc, Y.Doc]
  try {
    return sameContent(current, version)
  } finally {
    current.destroy()
    version.destroy()
  }
}
