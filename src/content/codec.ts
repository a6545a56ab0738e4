/**
 * Byte encodings at the REST boundary: base64url for state vectors in URLs and JSON, strict
 * state-vector decoding, and Yjs update format v1/v2.
 */
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import { InvalidInputError } from './errors.js'

export type UpdateEncoding = 'v1' | 'v2'

export const toBase64url = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')

/** Node's decoder skips characters it does not know; this refuses them, with or without padding. */
export function fromBase64url(text: string, what: string): Uint8Array {
  const body = text.replace(/={1,2}$/, '')
  if (!/^[A-Za-z0-9_-]*$/.test(body) || body.length % 4 === 1) {
    throw new InvalidInputError(`${what} is not valid base64url`)
  }
  return new Uint8Array(Buffer.from(body, 'base64url'))
}

/**
 * Decodes a state vector completely: Y.decodeStateVector ignores trailing bytes and accepts a
 * truncated one as long as the count fits, which would silently export the wrong diff.
 */
export function parseStateVector(bytes: Uint8Array): Uint8Array {
  try {
    const decoder = decoding.createDecoder(bytes)
    const count = decoding.readVarUint(decoder)
    for (let i = 0; i < count; i++) {
      decoding.readVarUint(decoder) // client id
      decoding.readVarUint(decoder) // clock
    }
    if (decoding.hasContent(decoder)) throw new Error('trailing bytes')
  } catch {
    throw new InvalidInputError('invalid state vector')
  }
  return bytes
}

/** The document as an update: all of it, or what a holder of `stateVector` lacks. */
export function encodeUpdate(doc: Y.Doc, stateVector: Uint8Array | undefined, encoding: UpdateEncoding): Uint8Array {
  return encoding === 'v2' ? Y.encodeStateAsUpdateV2(doc, stateVector) : Y.encodeStateAsUpdate(doc, stateVector)
}

export interface StateVectorJson {
  /** The encoded state vector, base64url: what `?sv=` takes. */
  stateVector: string
  /** The same as client id → clock, for people reading it. */
  clocks: Record<string, number>
}

export function stateVectorJson(doc: Y.Doc): StateVectorJson {
  const encoded = Y.encodeStateVector(doc)
  const clocks: Record<string, number> = {}
  for (const [client, clock] of Y.decodeStateVector(encoded)) clocks[String(client)] = clock
  return { stateVector: toBase64url(encoded), clocks }
}
