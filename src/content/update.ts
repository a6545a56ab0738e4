/**
 * Checks for updates that arrive over REST. Yjs applies an update in two phases (structs, then
 * the delete set) and may throw half-way, so an update is first applied to a scratch copy of the
 * document: bytes that fail there never reach the live document.
 */
import * as Y from 'yjs'
import type { UpdateEncoding } from './codec.js'
import { InvalidInputError } from './errors.js'

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
  try {
    Y.decodeUpdate(update) // cheap structural check before copying a large document
  } catch {
    throw new InvalidInputError('body is not a Yjs update (v1; send ?encoding=v2 for v2)')
  }
  const scratch = new Y.Doc()
  try {
    Y.applyUpdate(scratch, Y.encodeStateAsUpdate(doc))
    try {
      Y.applyUpdate(scratch, update)
    } catch {
      throw new InvalidInputError('update cannot be applied to this document')
    }
    // Yjs keeps what it cannot integrate yet and waits; the server would never get the rest.
    if (scratch.store.pendingStructs !== null || scratch.store.pendingDs !== null) {
      throw new InvalidInputError('update depends on changes this document does not have')
    }
  } finally {
    scratch.destroy()
  }
}
