// compact: snapshots and merges, stale snapshots, info.bytes and compactionDue.
import { describe, expect, it } from 'vitest'
import { contents, overwrite, pairs, range, stateOf, stateOfValues, update } from './fixtures.js'
import type { ContractContext } from './context.js'

/** Registers 'compaction'. */
export function compactionTests(context: ContractContext): void {
  const { open, appendInOrder, loadedValues } = context
  describe('compaction', () => {
    it('a snapshot replaces the log up to its seq; later updates stay in the log, in order', async () => {
      const store = await open()
      const appended = range(1, 10).map((v) => update(v))
      for (const u of appended) await store.append('doc', u)
      await store.compact('doc', { state: stateOfValues(range(1, 6)), seq: 6 })

      const loaded = await store.load('doc')
      expect(loaded.seq).toBe(10)
      expect(loaded.updates).toHaveLength(5) // the base, then 7…10
      expect(contents(loaded.updates.slice(0, 1))).toEqual(range(1, 6))
      expect(loaded.updates.slice(1).map((u) => Buffer.from(u))).toEqual(appended.slice(6).map((u) => Buffer.from(u)))
      expect(contents(loaded.updates)).toEqual(range(1, 10))
      const info = (await store.info('doc'))!
      expect(info.seq).toBe(10)
      expect(info.logUpdates).toBe(4)
      expect((await store.append('doc', update(11))).seq).toBe(11)
    })

    it('without a snapshot the store merges its own base and log', async () => {
      const store = await open()
      await appendInOrder(store, 'doc', range(1, 5))
      await store.compact('doc')
      let loaded = await store.load('doc')
      expect(loaded.updates).toHaveLength(1)
      expect(contents(loaded.updates)).toEqual(range(1, 5))
      expect((await store.info('doc'))!.logUpdates).toBe(0)

      // Now with a base: the merge must include it, not just the log.
      expect(await appendInOrder(store, 'doc', range(6, 8))).toEqual([6, 7, 8])
      await store.compact('doc')
      loaded = await store.load('doc')
      expect(loaded.updates).toHaveLength(1)
      expect(contents(loaded.updates)).toEqual(range(1, 8))
      expect(loaded.seq).toBe(8)
      const info = (await store.info('doc'))!
      expect(info.logUpdates).toBe(0)
      expect(info.seq).toBe(8)
      expect((await store.append('doc', update(9))).seq).toBe(9)
    })

    it('a snapshot older than the base does not roll the document back', async () => {
      const store = await open()
      await appendInOrder(store, 'doc', range(1, 10))
      await store.compact('doc', { state: stateOfValues(range(1, 8)), seq: 8 })
      // Late compactions (a slow room, another instance) with older snapshots: 5…8 are no longer
      // in the log, so writing this base would lose them.
      await store.compact('doc', { state: stateOfValues(range(1, 4)), seq: 4 })
      await store.compact('doc', { state: stateOfValues(range(1, 8)), seq: 8 })
      expect(await loadedValues(store, 'doc')).toEqual(range(1, 10))
      expect(pairs(await store.readSince('doc', 8))).toEqual([[9, 9], [10, 10]])
      expect((await store.info('doc'))!.logUpdates).toBe(2)
    })

    it('info.bytes counts the compacted state plus the log', async () => {
      const store = await open()
      // Twenty 500-byte overwrites of one key: the log holds all of them, the state only one.
      const updates = range(1, 20).map((v) => overwrite(v, 500))
      for (const u of updates) await store.append('doc', u)
      const logged = updates.reduce((n, u) => n + u.byteLength, 0)
      const before = (await store.info('doc'))!
      expect(before.bytes, 'the log holds every overwrite').toBeGreaterThanOrEqual(logged / 2)
      const state = stateOf(updates)
      expect(state.byteLength).toBeLessThan(logged / 10) // the premise: the state is small
      await store.compact('doc', { state, seq: 20 })
      const after = (await store.info('doc'))!
      expect(after.bytes, 'the folded log no longer counts').toBeLessThan(before.bytes / 4)
      expect(after.bytes).toBeGreaterThan(0)
      await store.append('doc', overwrite(21, 500))
      expect((await store.info('doc'))!.bytes).toBeGreaterThan(after.bytes + 400)
    })

    it('compactionDue once the log holds compactAfterUpdates updates, and again after compaction', async () => {
      const store = await open({ compactAfterUpdates: 5, compactAfterBytes: 1e9 })
      const due = async (values: number[]) => {
        const flags: boolean[] = []
        for (const v of values) flags.push((await store.append('doc', update(v))).compactionDue)
        return flags
      }
      expect(await due(range(1, 6))).toEqual([false, false, false, false, true, true])
      await store.compact('doc', { state: stateOfValues(range(1, 6)), seq: 6 })
      expect(await due(range(7, 11))).toEqual([false, false, false, false, true])
      // A partial compaction leaves 2 of 5 in the log: due again at the 5th.
      await store.compact('doc', { state: stateOfValues(range(1, 9)), seq: 9 })
      expect(await due(range(12, 14))).toEqual([false, false, true])
      expect((await store.append('fresh', update(1))).compactionDue).toBe(false)
    })

    it('compactionDue once the log holds compactAfterBytes bytes', async () => {
      const store = await open({ compactAfterUpdates: 1e9, compactAfterBytes: 1000 })
      const updates = range(1, 6).map((v) => update(v, 280))
      let total = 0
      for (const u of updates) {
        total += u.byteLength
        const { compactionDue } = await store.append('doc', u)
        expect(compactionDue, `${total} bytes in the log`).toBe(total >= 1000)
      }
      expect(total).toBeGreaterThanOrEqual(1000) // the premise: the threshold was crossed
      await store.compact('doc')
      expect((await store.append('doc', update(7))).compactionDue).toBe(false)
    })
  })
}
