/**
 * Key layout and record types shared by LevelDocStore and LevelVersions. Document names cannot
 * contain control characters, so `name \0` prefixes never collide and `name \1` ends a range.
 */
import type { Level } from 'level'
import type { DocInfo } from './doc-store.js'

export interface DocMeta {
  seq: number
  baseSeq: number
  baseBytes: number
  logUpdates: number
  logBytes: number
  createdAt: number
  updatedAt: number
}

export type Bytes = Uint8Array
export type Sub<V> = ReturnType<Level<string, Bytes>['sublevel']> & { __value?: V }
// abstract-level accepts a `sublevel` on batch operations; its generic types do not model that well.
export type BatchOp =
  | { type: 'put'; sublevel: Sub<unknown>; key: string; value: unknown }
  | { type: 'del'; sublevel: Sub<unknown>; key: string }
  /** A key already prefixed with its sublevel's prefix (log entries, the hot path), value in the root's encoding (bytes). */
  | { type: 'put'; key: string; value: Bytes }
  | { type: 'del'; key: string }

export const SEQ_WIDTH = 13 // hex digits: 2^52 updates per document

export const logKey = (name: string, seq: number) => `${name}\u0000${seq.toString(16).padStart(SEQ_WIDTH, '0')}`
export const logRangeEnd = (name: string) => `${name}\u0001`
export const seqOfLogKey = (key: string) => parseInt(key.slice(key.length - SEQ_WIDTH), 16)
export const nameOfLogKey = (key: string) => key.slice(0, key.length - SEQ_WIDTH - 1)

export const docInfo = (name: string, meta: DocMeta): DocInfo => ({
  name,
  seq: meta.seq,
  bytes: meta.baseBytes + meta.logBytes,
  logUpdates: meta.logUpdates,
  createdAt: meta.createdAt,
  updatedAt: meta.updatedAt,
})
