/**
 * Yjs updates whose content says exactly which of them a document holds, and small helpers the
 * contract suite shares.
 *
 * Update `v` is made by its own client (clientID = v) and sets key `v` of map `m`. Updates of
 * different clients do not depend on each other, so any subset of them, applied in any order or
 * merged into a compacted state, yields exactly that subset of keys: `contents(load().updates)`
 * tells which appends a store really kept, and a store that drops, duplicates or mixes up an
 * update cannot hide it behind Yjs merging.
 */
import * as Y from 'yjs'
import type { AppendResult, DocStore, LogEntry } from '../../src/storage/doc-store.js'

/** The update of value `v` (a positive integer); `pad` extra bytes make it bigger. */
export function update(value: number, pad = 0): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = value
  doc.getMap<string>('m').set(String(value), 'x'.repeat(pad))
  const encoded = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return encoded
}

/**
 * An update by client `value` that overwrites key `big` of map `o` with `size` bytes. Many of them
 * applied together keep one value: the others are deleted and garbage-collected, so their merged
 * state is far smaller than their sum (used to see the byte count shrink on compaction).
 */
export function overwrite(value: number, size: number): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = value
  doc.getMap<string>('o').set('big', String(value).padEnd(size, '.'))
  const encoded = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return encoded
}

/** The values whose updates `updates` contain, ascending. */
export function contents(updates: readonly Uint8Array[]): number[] {
  const doc = new Y.Doc()
  doc.transact(() => {
    for (const u of updates) Y.applyUpdate(doc, u)
  })
  const values = [...doc.getMap('m').keys()].map(Number).sort((a, b) => a - b)
  doc.destroy()
  return values
}

/** The full state (as a Yjs v1 update, garbage-collected) of a document holding `updates`. */
export function stateOf(updates: readonly Uint8Array[]): Uint8Array {
  const doc = new Y.Doc()
  doc.transact(() => {
    for (const u of updates) Y.applyUpdate(doc, u)
  })
  const state = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return state
}

/** The state holding exactly the updates of `values`: a compaction snapshot for them. */
export const stateOfValues = (values: readonly number[]) => stateOf(values.map((v) => update(v)))

/** from, from+1, …, to. */
export const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)

/**
 * One macrotask turn. Used only to spread calls over several event-loop turns (appends of one
 * turn may be group-committed together; ones of different turns are not), never to wait for a
 * store to finish something: every outcome is awaited through its own promise.
 */
export const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** A log entry as [seq, value]; fails if the entry does not hold exactly one of our updates. */
export function pair(entry: LogEntry): [number, number] {
  const values = contents([entry.update])
  if (values.length !== 1) throw new Error(`log entry ${entry.seq} holds ${values.length} updates, not one`)
  return [entry.seq, values[0]!]
}

export const pairs = (entries: LogEntry[] | null) => entries && entries.map(pair)

/**
 * Appends issued by a test, so that it can check afterwards what the store said about them: which
 * seq each value got, and the highest seq acknowledged at any moment (what a reader may demand).
 */
export class Appends {
  /** value → its append, in call order. */
  readonly issued = new Map<number, Promise<AppendResult>>()
  /** value → seq, once acknowledged. */
  readonly seqOf = new Map<number, number>()
  /** seq → value, once acknowledged. */
  readonly valueAt = new Map<number, number>()
  private top = 0

  /** Appends `value` through `store`; the returned promise is also kept in `issued`. */
  append(store: DocStore, name: string, value: number, pad = 0): Promise<AppendResult> {
    const result = store.append(name, update(value, pad))
    this.issued.set(value, result)
    result.then(
      ({ seq }) => {
        this.seqOf.set(value, seq)
        this.valueAt.set(seq, value)
        this.top = Math.max(this.top, seq)
      },
      () => {}, // the test inspects rejections through `issued`
    )
    return result
  }

  /** The highest seq acknowledged so far: every reader asked now must reach at least this. */
  acked(): number {
    return this.top
  }

  /** Waits for every append; returns their seqs in call order (rejects if any append failed). */
  async all(): Promise<number[]> {
    return (await Promise.all(this.issued.values())).map((r) => r.seq)
  }

  /** The acknowledged values with seq ≤ `seq`. */
  valuesUpTo(seq: number): number[] {
    return [...this.seqOf].filter(([, s]) => s <= seq).map(([v]) => v).sort((a, b) => a - b)
  }
}
