// Durability across a restart (skipped when the harness has no reopen).
import { describe, expect, it } from 'vitest'
import { contents, pairs, range, stateOfValues, update } from './fixtures.js'
import type { ContractContext } from './context.js'

/** Registers 'durability across a restart'. */
export function durabilityTests(context: ContractContext): void {
  const { open, restarts, appendInOrder, appendAtOnce, loadedValues, names } = context
  describe('durability across a restart', () => {
    it('acknowledged appends, compaction, versions and info survive; seqs continue', async (ctx) => {
      const reopen = restarts(ctx)
      let store = await open()
      await appendInOrder(store, 'doc', range(1, 10))
      await store.compact('doc', { state: stateOfValues(range(1, 6)), seq: 6 })
      expect(await appendAtOnce(store, 'doc', range(11, 12))).toEqual([11, 12])
      const version = (await store.versions.create('doc', 'v', stateOfValues(range(1, 12))))!
      await appendInOrder(store, 'other', range(100, 102))
      await appendInOrder(store, 'gone', range(200, 201))
      expect(await store.delete('gone')).toBe(true)
      const infos = await store.list({ limit: 10 })

      store = await reopen(store)
      expect(await store.list({ limit: 10 })).toEqual(infos)
      const loaded = await store.load('doc')
      expect(loaded.seq).toBe(12)
      expect(contents(loaded.updates)).toEqual([...range(1, 10), 11, 12])
      expect(loaded.updates).toHaveLength(7) // the base, then 7…12
      expect(pairs(await store.readSince('doc', 6))).toEqual([[7, 7], [8, 8], [9, 9], [10, 10], [11, 11], [12, 12]])
      expect(await store.readSince('doc', 5)).toBeNull()
      expect(await store.versions.list('doc')).toEqual([version])
      expect(Buffer.from((await store.versions.read('doc', version.id))!.state)).toEqual(Buffer.from(stateOfValues(range(1, 12))))
      expect(await store.info('gone')).toBeNull()
      expect((await store.load('gone')).updates).toEqual([])
      expect((await store.append('doc', update(13))).seq).toBe(13)
      expect((await store.versions.create('doc', 'w', stateOfValues([1])))!.id).toBe(version.id + 1)
    })

    it('appends right after a restart, before any read, continue the seqs in call order', async (ctx) => {
      const reopen = restarts(ctx)
      let store = await open()
      await appendInOrder(store, 'doc', range(1, 3))
      await store.compact('doc')
      await appendInOrder(store, 'doc', range(4, 5))
      store = await reopen(store)
      // Nothing has read the document yet: the store must find seq 5 before assigning any.
      expect(await appendAtOnce(store, 'doc', range(6, 15))).toEqual(range(6, 15))
      store = await reopen(store)
      expect(await loadedValues(store, 'doc')).toEqual(range(1, 15))
      expect(pairs(await store.readSince('doc', 13))).toEqual([[14, 14], [15, 15]])
      expect((await store.info('doc'))!.logUpdates).toBe(12)
    })

    it('a deleted document stays deleted after a restart', async (ctx) => {
      const reopen = restarts(ctx)
      let store = await open()
      await appendInOrder(store, 'doc', range(1, 4))
      await store.compact('doc', { state: stateOfValues(range(1, 2)), seq: 2 })
      await store.versions.create('doc', 'v', stateOfValues(range(1, 4)))
      expect(await store.delete('doc')).toBe(true)
      store = await reopen(store)
      expect(await store.info('doc')).toBeNull()
      expect((await store.load('doc')).updates).toEqual([])
      expect(await store.versions.list('doc')).toEqual([])
      expect(await names(store)).toEqual([])
      const loaded = await store.load('doc')
      expect((await store.append('doc', update(5))).seq).toBe(loaded.seq + 1)
      expect(await loadedValues(store, 'doc')).toEqual([5])
    })
  })
}
