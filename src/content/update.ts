/**
 * Checks for updates that arrive over REST, before the live document is touched.
 *
 * Y.decodeUpdate reads the whole update (structs, content, delete set) without integrating it,
 * and missingDependency replays how Yjs would integrate it into this document. Together they
 * cover what used to need a trial apply on a scratch copy of the whole document (O(document)
 * per POST): malformed bytes; updates Yjs would keep pending because they depend on changes the
 * document lacks; and the known ways Yjs throws half-way through a well-formed update (an item
 * referring to its own client's future, an empty delete range at a client's clock), which
 * missingDependency reports as well; 100k byte-mutated real updates that passed both checks
 * found no other. The WebSocket path skips the full decode (Yjs reads a whole update before it
 * integrates any of it, so a content fault there changes nothing: room.ts, readDependencies) and
 * applies with no copy either; the room discards anything Yjs still leaves pending.
 */
import * as Y from 'yjs'
import type { UpdateEncoding } from './codec.js'
import { missingDependency } from './dependencies.js'
import { InvalidInputError } from './errors.js'

/**
 * A Y.Doc holding `updates` (a document as stored: base and log), applied in one transaction.
 * Give it a `guid` where one is at hand: Y.Doc's default, a random UUID, draws 31 numbers from the
 * OS (~7 % of the churn bench's CPU when rooms did it). The caller destroys the document.
 */
export function docFromUpdates(updates: readonly Uint8Array[], guid?: string): Y.Doc {
  const doc = new Y.Doc(guid === undefined ? {} : { guid })
  doc.transact(() => {
    for (const update of updates) Y.applyUpdate(doc, update)
  })
  return doc
}

/** The update in format v1, which rooms and storage use. */
export function toV1(bytes: Uint8Array, encoding: UpdateEncoding): Uint8Array {
  if (encoding === 'v1') return bytes
  try {
    return Y.convertUpdateFormatV2ToV1(bytes)
  } catch {
    throw new InvalidInputError('body is not a Yjs update in format v2')
  }
}

/** Throws InvalidInputError unless `update` applies to `doc` completely. `doc` is not touched. */
export function checkUpdate(doc: Y.Doc, update: Uint8Array): void {
  let missing: string | null
  try {
    Y.decodeUpdate(update)
    missing = missingDependency(doc, update)
  } catch {
    throw new InvalidInputError('body is not a Yjs update (v1; send ?encoding=v2 for v2)')
  }
  // Yjs would keep such an update waiting for the rest, which a REST client never sends.
  if (missing !== null) throw new InvalidInputError(`update depends on changes this document does not have: ${missing}`)
}
