/**
 * LevelDocStore when LevelDB writes fail. The store's real database is used throughout; only its
 * `batch` method is wrapped so that chosen batches are held in flight (to line up interleavings
 * deterministically) and then rejected instead of written.
 *
 * What a broken store gets wrong here: it hands out a sequence number twice (a later append
 * overwrites an update that was committed and relayed), it commits log entries without a meta
 * that covers them, it makes a failed compaction's base/log bookkeeping real, or `readSince`
 * returns a list with a hole in it that a reader would take as complete.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { LevelDocStore } from '../../src/index.js'
import { logKey } from '../../src/storage/level-layout.js'
import { cleanup, tempDir } from '../helpers.js'

const open: LevelDocStore[] = []
/** Batches a test left held (it failed halfway): failed in afterEach, or closing would wait forever. */
const stranded = new Set<HeldBatch>()

afterEach(async () => {
  for (const held of stranded) held.fail()
  stranded.clear()
  // Close before the temp dirs go, even when a test failed halfway.
  while (open.length > 0) await open.pop()!.close().catch(() => {})
  await cleanup()
})

/**
 * One update setting key `value` of map `m`, made by its own client (clientID = value). Updates of
 * different clients do not depend on each other, so any subset of them merges to exactly that
 * subset: the merged content says which updates a load really returned.
 */
function update(value: number): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = value
  doc.getMap<number>('m').set(String(value), value)
  const encoded = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return encoded
}

/** The values whose updates are contained in `updates`, ascending. */
function contents(updates: Uint8Array[]): number[] {
  const doc = new Y.Doc()
  for (const u of updates) Y.applyUpdate(doc, u)
  const values = [...doc.getMap<number>('m').values()].sort((a, b) => a - b)
  doc.destroy()
  return values
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

async function openStore() {
  const dir = await tempDir()
  let store = await LevelDocStore.open(dir)
  open.push(store)
  return {
    get store() { return store },
    async reopen() {
      await store.close()
      store = await LevelDocStore.open(dir)
      open.push(store)
      return store
    },
  }
}

interface RawOp { type: string; key: string; sublevel?: { prefix: string } }

/** A batch that reached LevelDB and waits there until the test lets it through or fails it. */
interface HeldBatch {
  /** Sequence numbers of the log entries of `name` this batch would write. */
  logSeqs(name: string): number[]
  /** Whether it writes a compacted base (that is, it is a compaction's batch). */
  writesBase: boolean
  pass(): void
  fail(): void
}

/**
 * Wraps the store's one way of writing a batch to LevelDB (`commitBatch`). `hold()` catches the
 * next batch that reaches the database (its promise resolves when it arrives); `failNext(n)`
 * rejects the next n outright.
 */
function injectFaults(store: LevelDocStore) {
  const db = store as unknown as { commitBatch(ops: RawOp[], options?: unknown): Promise<void> }
  const real = db.commitBatch.bind(db)
  const holds: Array<(held: HeldBatch) => void> = []
  let failures = 0
  db.commitBatch = (ops, options) => {
    const hold = holds.shift()
    if (hold) {
      return new Promise<void>((resolve, reject) => {
        const held: HeldBatch = {
          // Appends come with their key already prefixed (LevelDocStore.appendNow), other writes with a sublevel.
          logSeqs: (name) => ops
            .filter((op) => op.type === 'put')
            .map((op) => (op.sublevel?.prefix ?? '') + op.key)
            .filter((key) => key.startsWith(`!log!${name}\u0000`))
            .map((key) => parseInt(key.slice(`!log!${name}`.length + 1), 16)),
          writesBase: ops.some((op) => op.type === 'put' && op.sublevel?.prefix === '!base!'),
          pass: () => {
            stranded.delete(held)
            void real(ops, options).then(resolve, reject)
          },
          fail: () => {
            stranded.delete(held)
            reject(new Error('injected batch failure'))
          },
        }
        stranded.add(held)
        hold(held)
      })
    }
    if (failures > 0) {
      failures--
      return Promise.reject(new Error('injected batch failure'))
    }
    return real(ops, options)
  }
  return {
    hold: () => new Promise<HeldBatch>((resolve) => holds.push(resolve)),
    failNext: (n = 1) => { failures += n },
  }
}

/** One macrotask turn: every microtask continuation queued so far has run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Appends value `v` and resolves with its seq. */
const appendValue = (store: LevelDocStore, name: string, v: number) => store.append(name, update(v)).then((r) => r.seq)

/** readSince as [seq, value] pairs (null stays null). */
async function since(store: LevelDocStore, name: string, seq: number): Promise<Array<[number, number]> | null> {
  const entries = await store.readSince(name, seq)
  return entries && entries.map((e): [number, number] => [e.seq, contents([e.update])[0]!])
}

describe('LevelDocStore when batches fail', () => {
  it('a compaction whose batch fails: nothing committed is lost or overwritten, seqs stay distinct', async () => {
    const s = await openStore()
    const faults = injectFaults(s.store)
    for (const v of range(1, 10)) expect(await appendValue(s.store, 'doc', v)).toBe(v)
    // Cache the other document's meta, so that its appends below queue without a read first.
    await appendValue(s.store, 'other', 1000)

    // Line up: compaction's barrier in batch X (held); batch Y (another document) queued behind X.
    // When X commits, Y goes in flight at once and the compaction queues its batch Z behind Y.
    const xHeld = faults.hold()
    const compaction = s.store.compact('doc', { state: Y.mergeUpdates(range(1, 10).map(update)), seq: 10 })
    const other1 = appendValue(s.store, 'other', 1001)
    const x = await xHeld
    const yHeld = faults.hold()
    const other2 = appendValue(s.store, 'other', 1002)
    x.pass()
    const y = await yHeld
    await turn() // the compaction's continuation (no I/O: its snapshot covers the whole log) queues Z
    const sameBatch = [appendValue(s.store, 'doc', 11), appendValue(s.store, 'doc', 12)]
    const zHeld = faults.hold()
    y.pass()
    const z = await zHeld
    // The premise: Z carries the compaction and the two appends of the same turn.
    expect(z.writesBase).toBe(true)
    expect(z.logSeqs('doc')).toEqual([11, 12])
    // These queue behind the compaction's batch while it is in flight: the next batch.
    const nextBatch = [appendValue(s.store, 'doc', 13), appendValue(s.store, 'doc', 14)]
    z.fail()

    await expect(compaction).rejects.toThrow('injected')
    for (const p of sameBatch) await expect(p).rejects.toThrow('injected')
    expect(await Promise.all([other1, other2])).toEqual([2, 3])
    const committed = new Map<number, number>(range(1, 10).map((v) => [v, v])) // seq → value
    const nextSeqs = await Promise.all(nextBatch)
    nextSeqs.forEach((seq, i) => committed.set(seq, 13 + i))
    // Appends after the failure must get fresh seqs, not ones already holding committed updates.
    for (const v of range(15, 18)) {
      const seq = await appendValue(s.store, 'doc', v)
      expect(committed.has(seq), `seq ${seq} (value ${v}) was already committed to value ${committed.get(seq)}`).toBe(false)
      committed.set(seq, v)
    }
    const seqs = [...committed.keys()]
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b)) // in append order

    const all = [...range(1, 10), ...range(13, 18)]
    expect(contents((await s.store.load('doc')).updates)).toEqual(all)
    expect(await since(s.store, 'doc', 0)).toBeNull() // the failed 11 and 12 left a hole
    expect(await since(s.store, 'doc', 10)).toBeNull()
    expect(await since(s.store, 'doc', 12)).toEqual(seqs.filter((q) => q > 12).map((q) => [q, committed.get(q)]))
    // Only a committed compaction changes the bookkeeping: nothing was folded, 16 entries are live.
    const info = (await s.store.info('doc'))!
    expect(info.logUpdates).toBe(16)
    expect(info.seq).toBe(Math.max(...seqs))

    // A compaction that does commit afterwards folds everything; seqs still continue upwards.
    await s.store.compact('doc')
    expect((await s.store.info('doc'))!.logUpdates).toBe(0)
    expect(await since(s.store, 'doc', 12)).toBeNull()
    const store = await s.reopen()
    expect(await appendValue(store, 'doc', 19)).toBeGreaterThan(Math.max(...seqs))
    expect(contents((await store.load('doc')).updates)).toEqual([...all, 19])
  })

  it('a failed append batch leaves a hole: no seq reused, readSince across it is null, load has the rest', async () => {
    const s = await openStore()
    const faults = injectFaults(s.store)
    for (const v of range(1, 3)) await appendValue(s.store, 'doc', v)

    const held = faults.hold()
    const failing = [appendValue(s.store, 'doc', 4), appendValue(s.store, 'doc', 5)]
    const batch = await held
    expect(batch.logSeqs('doc')).toEqual([4, 5])
    // Queued while the failing batch is in flight, so they commit in the batch after it.
    const behind = [appendValue(s.store, 'doc', 6), appendValue(s.store, 'doc', 7)]
    batch.fail()
    for (const p of failing) await expect(p).rejects.toThrow('injected')
    expect(await Promise.all(behind)).toEqual([6, 7])
    // The failed seqs 4 and 5 are never handed out again, and neither are 6 and 7.
    const after = []
    for (const v of range(8, 10)) after.push(await appendValue(s.store, 'doc', v))
    expect(after).toEqual([8, 9, 10])

    expect(await since(s.store, 'doc', 3)).toBeNull()
    expect(await since(s.store, 'doc', 4)).toBeNull()
    expect(await since(s.store, 'doc', 5)).toEqual(range(6, 10).map((v) => [v, v]))
    expect(contents((await s.store.load('doc')).updates)).toEqual([1, 2, 3, ...range(6, 10)])
    const info = (await s.store.info('doc'))!
    expect(info.logUpdates).toBe(8) // the two failed updates are not counted as stored
    expect(info.seq).toBe(10)
  })

  it('after a restart, seqs continue above every committed one', async () => {
    const s = await openStore()
    let faults = injectFaults(s.store)
    for (const v of range(1, 3)) await appendValue(s.store, 'doc', v)
    const held = faults.hold()
    const failing = appendValue(s.store, 'doc', 4)
    const batch = await held
    const behind = [appendValue(s.store, 'doc', 5), appendValue(s.store, 'doc', 6)]
    batch.fail()
    await expect(failing).rejects.toThrow('injected')
    expect(await Promise.all(behind)).toEqual([5, 6])

    // Straight after reopening, without a load first: the stored meta alone must cover seq 6.
    let store = await s.reopen()
    const next = []
    for (const v of range(7, 9)) next.push(await appendValue(store, 'doc', v))
    expect(Math.min(...next)).toBeGreaterThan(6)
    expect(contents((await store.load('doc')).updates)).toEqual([1, 2, 3, ...range(5, 9)])
    expect(await since(store, 'doc', 3)).toBeNull()

    // A failure as the last write before closing: the hole is at the end of the log.
    faults = injectFaults(store)
    faults.failNext()
    await expect(appendValue(store, 'doc', 10)).rejects.toThrow('injected')
    const lastCommitted = Math.max(...next)
    store = await s.reopen()
    const seq = await appendValue(store, 'doc', 11)
    // Not even the failed seq comes back: closing wrote the meta that the failed batch carried.
    expect(seq).toBeGreaterThan(lastCommitted + 1)
    expect(contents((await store.load('doc')).updates)).toEqual([1, 2, 3, ...range(5, 9), 11])
    expect(await since(store, 'doc', lastCommitted)).toBeNull()
    expect(await since(store, 'doc', seq - 1)).toEqual([[seq, 11]])
  })

  it('after a restart, seqs continue above log entries that an older version left past its meta', async () => {
    const s = await openStore()
    for (const v of range(1, 3)) await appendValue(s.store, 'doc', v)
    // What the old failure handling produced: committed entries (here 5 and 6) past the stored meta (seq 3).
    const raw = (s.store as unknown as { db: { sublevel(name: string, o: object): { put(key: string, value: Uint8Array): Promise<void> } } }).db
    const log = raw.sublevel('log', { valueEncoding: 'view' })
    await log.put(logKey('doc', 5), update(5))
    await log.put(logKey('doc', 6), update(6))
    const store = await s.reopen()
    // Appending before any load must not overwrite them.
    const seqs = [await appendValue(store, 'doc', 7), await appendValue(store, 'doc', 8)]
    expect(Math.min(...seqs)).toBeGreaterThan(6)
    expect(contents((await store.load('doc')).updates)).toEqual([1, 2, 3, 5, 6, 7, 8])
  })

  it('releasing a document while its batch is in flight does not let the next append reuse a seq', async () => {
    const s = await openStore()
    const faults = injectFaults(s.store)
    for (const v of range(1, 3)) await appendValue(s.store, 'doc', v)
    const held = faults.hold()
    const inFlight = appendValue(s.store, 'doc', 4)
    const batch = await held
    // The disk still says seq 3; a store that drops the cached meta now would read that back.
    s.store.release('doc')
    const after = appendValue(s.store, 'doc', 5)
    batch.pass()
    expect(await inFlight).toBe(4)
    expect(await after).toBe(5)
    expect(contents((await s.store.load('doc')).updates)).toEqual([1, 2, 3, 4, 5])
  })

  it('readSince returns null for a hole in the middle or at the end, not only at the start', async () => {
    const s = await openStore()
    for (const v of range(1, 6)) await appendValue(s.store, 'doc', v)
    // Remove entries behind the store's back: 3 in the middle, 6 at the end.
    const raw = (s.store as unknown as { db: { sublevel(name: string, o: object): { del(key: string): Promise<void> } } }).db
    const log = raw.sublevel('log', { valueEncoding: 'view' })
    await log.del(logKey('doc', 3))
    expect(await since(s.store, 'doc', 1)).toBeNull() // [2, 4, 5] has a hole in the middle
    expect(await since(s.store, 'doc', 2)).toBeNull() // [4, 5]: starts past the hole
    expect(await since(s.store, 'doc', 3)).toEqual([[4, 4], [5, 5], [6, 6]])
    await log.del(logKey('doc', 6))
    expect(await since(s.store, 'doc', 3)).toBeNull() // [4, 5], but 6 was assigned
    expect(await since(s.store, 'doc', 5)).toBeNull() // [], but 6 was assigned
    expect(await since(s.store, 'doc', 6)).toEqual([])

    // The same holes made by failed writes: a failed batch in the middle, then one at the end.
    const faults = injectFaults(s.store)
    faults.failNext()
    await expect(appendValue(s.store, 'doc', 7)).rejects.toThrow('injected')
    const eight = await appendValue(s.store, 'doc', 8)
    expect(await since(s.store, 'doc', eight - 1)).toEqual([[eight, 8]])
    expect(await since(s.store, 'doc', eight - 2)).toBeNull()
    faults.failNext()
    await expect(appendValue(s.store, 'doc', 9)).rejects.toThrow('injected')
    expect(await since(s.store, 'doc', eight - 1)).toBeNull() // [8], but 9's seq was assigned
    expect(await since(s.store, 'doc', eight)).toBeNull()
  })

  it('a failed delete or version write shares the writer without disturbing the seqs', async () => {
    const s = await openStore()
    const faults = injectFaults(s.store)
    for (const v of range(1, 3)) await appendValue(s.store, 'doc', v)

    faults.failNext()
    await expect(s.store.versions.create('doc', 'v', update(100))).rejects.toThrow('injected')
    expect(await s.store.versions.list('doc')).toEqual([])

    // A failed append (seq 4), whose seq only the cached meta remembers (appends do not write
    // the meta each time), then a failed delete.
    faults.failNext()
    await expect(appendValue(s.store, 'doc', 4)).rejects.toThrow('injected')
    faults.failNext()
    await expect(s.store.delete('doc')).rejects.toThrow('injected')
    // The document is still whole, and its seqs carry on above the failed one: the delete must
    // not have dropped the meta in favour of the older stored one.
    expect(await appendValue(s.store, 'doc', 5)).toBe(5)
    expect(contents((await s.store.load('doc')).updates)).toEqual([1, 2, 3, 5])
    expect((await s.store.versions.create('doc', 'v', update(100)))!.id).toBe(1)
    expect(await s.store.delete('doc')).toBe(true)
    expect(await s.store.info('doc')).toBeNull()
  })
})
