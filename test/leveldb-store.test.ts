import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { DataDirInUseError, LevelDocStore } from '../src/index.js'
import { cleanup, tempDir } from './helpers.js'

afterEach(cleanup)

/** N updates, each pushing its index onto a Y.Array, as a writer would send them. */
function pushUpdates(count: number): Uint8Array[] {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  for (let i = 0; i < count; i++) doc.getArray<number>('a').push([i])
  return updates
}

function materialize(updates: Uint8Array[]): number[] {
  const doc = new Y.Doc()
  for (const u of updates) Y.applyUpdate(doc, u)
  return doc.getArray<number>('a').toArray()
}

async function openStore(options = {}) {
  const dir = await tempDir()
  let store = await LevelDocStore.open(dir, options)
  const reopen = async () => {
    await store.close()
    store = await LevelDocStore.open(dir, options)
    return store
  }
  return { dir, get store() { return store }, reopen }
}

describe('LevelDocStore', () => {
  it('assigns contiguous sequence numbers in append order and loads them back', async () => {
    const s = await openStore()
    const updates = pushUpdates(10)
    const results = await Promise.all(updates.map((u) => s.store.append('doc', u)))
    expect(results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    const other = await s.store.append('other', pushUpdates(1)[0]!)
    expect(other.seq).toBe(1) // sequences are per document

    const store = await s.reopen()
    const loaded = await store.load('doc')
    expect(loaded.seq).toBe(10)
    expect(materialize(loaded.updates)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect((await store.readSince('doc', 7))!.map((e) => e.seq)).toEqual([8, 9, 10])
    expect(await store.load('never-written')).toEqual({ updates: [], seq: 0 })
    await store.close()
  })

  it('compacts atomically and keeps updates appended during compaction', async () => {
    const s = await openStore({ compactAfterUpdates: 40 })
    const updates = pushUpdates(100)
    const first = await Promise.all(updates.slice(0, 50).map((u) => s.store.append('doc', u)))
    expect(first.at(-1)!.compactionDue).toBe(true)
    const snapshot = { state: Y.mergeUpdates(updates.slice(0, 50)), seq: 50 }
    // The remaining appends race the compaction.
    const racing = updates.slice(50).map((u) => s.store.append('doc', u))
    await Promise.all([s.store.compact('doc', snapshot), ...racing])

    const info = (await s.store.info('doc'))!
    expect(info.seq).toBe(100)
    expect(info.logUpdates).toBe(50)
    expect(await s.store.readSince('doc', 10)).toBeNull() // folded into the base
    const store = await s.reopen()
    const loaded = await store.load('doc')
    expect(loaded.updates).toHaveLength(51) // the base and the 50 racing updates
    expect(materialize(loaded.updates)).toEqual(Array.from({ length: 100 }, (_, i) => i))
    await store.close()
  })

  it('compacts from its own data when no snapshot is given, and sequence numbers continue', async () => {
    const s = await openStore()
    const updates = pushUpdates(31)
    for (const u of updates.slice(0, 30)) await s.store.append('doc', u)
    await s.store.compact('doc')
    expect((await s.store.info('doc'))!.logUpdates).toBe(0)
    const next = await s.store.append('doc', updates[30]!)
    expect(next.seq).toBe(31)
    const store = await s.reopen()
    const loaded = await store.load('doc')
    expect(loaded.updates).toHaveLength(2)
    expect(materialize(loaded.updates)).toEqual(Array.from({ length: 31 }, (_, i) => i))
    await store.close()
  })

  it('loads a released document from its recent base only while that base is the whole content', async () => {
    const s = await openStore()
    const updates = pushUpdates(6)
    for (const u of updates.slice(0, 3)) await s.store.append('doc', u)
    await s.store.compact('doc', { state: Y.mergeUpdates(updates.slice(0, 3)), seq: 3 })
    s.store.release('doc')
    expect(materialize((await s.store.load('doc')).updates)).toEqual([0, 1, 2])
    // Appended after the base: the log counts too, so the base alone would lose 3.
    await s.store.append('doc', updates[3]!)
    s.store.release('doc')
    expect(materialize((await s.store.load('doc')).updates)).toEqual([0, 1, 2, 3])
    // Deleted, then a new document under the same name: nothing of the old base may come back.
    await s.store.delete('doc')
    s.store.release('doc')
    expect((await s.store.load('doc')).updates).toEqual([])
    const fresh = pushUpdates(1)[0]!
    await s.store.append('doc', fresh)
    await s.store.compact('doc', { state: fresh, seq: 1 })
    s.store.release('doc')
    expect(materialize((await s.store.load('doc')).updates)).toEqual([0])
    await s.store.close()
  })

  it('refuses a data directory that is already open', async () => {
    const s = await openStore()
    await expect(LevelDocStore.open(s.dir)).rejects.toBeInstanceOf(DataDirInUseError)
    await s.store.close()
  })

  it('reports a failed write instead of pretending it happened', async () => {
    const s = await openStore()
    await s.store.append('doc', pushUpdates(1)[0]!)
    await s.store.close()
    await expect(s.store.append('doc', pushUpdates(1)[0]!)).rejects.toThrow()
  })
})
