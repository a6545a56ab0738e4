// Versions, delete, and release/close.
import { describe, expect, it } from 'vitest'
import { pairs, range, stateOfValues, update } from './fixtures.js'
import { CLOCK_SKEW_MS, type ContractContext } from './context.js'

/** Registers 'versions', 'delete' and 'release and close'. */
export function versionsDeleteTests(context: ContractContext): void {
  const { label, open, close, appendInOrder, appendAtOnce, loadedValues, names } = context
  describe('versions', () => {
    it('ids count 1, 2, 3… per document; list is oldest first; read returns the state', async () => {
      const store = await open()
      await store.append('doc', update(1))
      await store.append('other', update(2))
      const states = [stateOfValues([1]), stateOfValues([1, 3]), stateOfValues([1, 3, 4])]
      const before = Date.now()
      const created = []
      for (const [i, state] of states.entries()) created.push((await store.versions.create('doc', `label ${i}`, state))!)
      const after = Date.now()
      expect(created.map((v) => v.id)).toEqual([1, 2, 3])
      expect(created.map((v) => v.label)).toEqual(['label 0', 'label 1', 'label 2'])
      expect(created.map((v) => v.bytes)).toEqual(states.map((s) => s.byteLength))
      for (const v of created) {
        expect(v.createdAt).toBeGreaterThanOrEqual(before - CLOCK_SKEW_MS)
        expect(v.createdAt).toBeLessThanOrEqual(after + CLOCK_SKEW_MS)
      }
      expect(await store.versions.list('doc')).toEqual(created)
      for (const [i, v] of created.entries()) {
        const read = (await store.versions.read('doc', v.id))!
        expect(read.info).toEqual(v)
        expect(Buffer.from(read.state)).toEqual(Buffer.from(states[i]!))
      }
      // Per document: the other one starts at 1.
      expect((await store.versions.create('other', 'first', states[0]!))!.id).toBe(1)
      expect((await store.versions.list('other')).map((v) => v.id)).toEqual([1])
    })

    it('refused for documents never stored; unknown ids read null; versions are not log entries', async () => {
      const store = await open()
      expect(await store.versions.create('never', 'v', stateOfValues([1]))).toBeNull()
      expect(await store.versions.list('never')).toEqual([])
      await appendInOrder(store, 'doc', range(1, 3))
      await store.append('other', update(10))
      expect((await store.versions.create('doc', 'v', stateOfValues(range(1, 3))))!.id).toBe(1)
      expect(await store.versions.read('doc', 2)).toBeNull()
      expect(await store.versions.read('doc', 0)).toBeNull()
      expect(await store.versions.read('other', 1)).toBeNull()
      expect(await store.versions.list('other')).toEqual([])
      // A version is not an update: seqs, log and content are untouched.
      expect(await store.readSince('doc', 3)).toEqual([])
      expect((await store.info('doc'))!.logUpdates).toBe(3)
      expect(await loadedValues(store, 'doc')).toEqual(range(1, 3))
      expect((await store.append('doc', update(4))).seq).toBe(4)
    })

    it('concurrent creates get distinct ids, each reading back its own state', async () => {
      const store = await open()
      await store.append('doc', update(1))
      const states = range(1, 6).map((n) => stateOfValues(range(1, n)))
      const created = await Promise.all(states.map((s, i) => store.versions.create('doc', `v${i}`, s)))
      expect(created.map((v) => v!.id).sort((a, b) => a - b)).toEqual(range(1, 6))
      for (const [i, v] of created.entries()) {
        const read = (await store.versions.read('doc', v!.id))!
        expect(read.info.label).toBe(`v${i}`)
        expect(Buffer.from(read.state)).toEqual(Buffer.from(states[i]!))
      }
      expect((await store.versions.list('doc')).map((v) => v.id)).toEqual(range(1, 6))
    })
  })

  describe('delete', () => {
    it('removes log, compacted state and versions; true once, then false', async () => {
      const store = await open()
      await appendInOrder(store, 'doc', range(1, 6))
      await store.compact('doc', { state: stateOfValues(range(1, 3)), seq: 3 })
      await store.versions.create('doc', 'v', stateOfValues(range(1, 6)))
      await store.append('keep', update(100))
      await store.versions.create('keep', 'v', stateOfValues([100]))

      expect(await store.delete('doc')).toBe(true)
      expect(await store.delete('doc')).toBe(false)
      expect(await store.info('doc')).toBeNull()
      expect((await store.load('doc')).updates).toEqual([])
      expect(await store.versions.list('doc')).toEqual([])
      expect(await store.versions.read('doc', 1)).toBeNull()
      expect(await store.versions.create('doc', 'v', stateOfValues([1]))).toBeNull()
      expect(await names(store)).toEqual(['keep'])
      // Another document is untouched.
      expect(await loadedValues(store, 'keep')).toEqual([100])
      expect((await store.versions.list('keep')).map((v) => v.id)).toEqual([1])
    })

    it('waits for the appends queued before it, and leaves none of them behind', async () => {
      const store = await open()
      await store.append('doc', update(1))
      const pending = range(2, 6).map((v) => store.append('doc', update(v)))
      const deleted = store.delete('doc')
      // The appends queued first must succeed: delete comes after its pending writes.
      expect((await Promise.all(pending)).map((r) => r.seq)).toEqual(range(2, 6))
      expect(await deleted).toBe(true)
      expect(await store.info('doc')).toBeNull()
      expect((await store.load('doc')).updates).toEqual([])
      expect(await names(store)).toEqual([])
    })

    it('a deleted document starts afresh: loads empty, and the next append follows the seq its load reports', async () => {
      // doc-store.ts does not say whether seqs restart after a delete (LevelDB restarts at 1), so
      // either is accepted; what must hold is that load, append and readSince agree.
      const store = await open()
      await appendInOrder(store, 'doc', range(1, 5))
      await store.versions.create('doc', 'old', stateOfValues(range(1, 5)))
      expect(await store.delete('doc')).toBe(true)
      const loaded = await store.load('doc')
      expect(loaded.updates).toEqual([])
      const seq = (await store.append('doc', update(6))).seq
      expect(seq).toBe(loaded.seq + 1)
      expect(pairs(await store.readSince('doc', loaded.seq))).toEqual([[seq, 6]])
      expect(await loadedValues(store, 'doc')).toEqual([6]) // nothing of the old document comes back
      const info = (await store.info('doc'))!
      expect(info.seq).toBe(seq)
      expect(info.logUpdates).toBe(1)
      expect(await store.versions.list('doc')).toEqual([])
      const version = (await store.versions.create('doc', 'new', stateOfValues([6])))!
      expect(Buffer.from((await store.versions.read('doc', version.id))!.state)).toEqual(Buffer.from(stateOfValues([6])))
      expect(await store.versions.list('doc')).toEqual([version])
    })
  })

  describe('release and close', () => {
    it('release at any moment changes nothing', async () => {
      const store = await open()
      store.release('never')
      await appendInOrder(store, 'doc', range(1, 3))
      // While appends are in flight, and between appends of one turn.
      const first = store.append('doc', update(4))
      store.release('doc')
      const second = store.append('doc', update(5))
      store.release('doc')
      expect([(await first).seq, (await second).seq]).toEqual([4, 5])
      // While a compaction is in flight.
      const compaction = store.compact('doc', { state: stateOfValues(range(1, 5)), seq: 5 })
      store.release('doc')
      const third = store.append('doc', update(6))
      await compaction
      expect((await third).seq).toBe(6)
      store.release('doc')
      expect(await loadedValues(store, 'doc')).toEqual(range(1, 6))
      expect(pairs(await store.readSince('doc', 5))).toEqual([[6, 6]])
      expect((await store.info('doc'))!.seq).toBe(6)
      store.release('doc')
      expect(await appendAtOnce(store, 'doc', range(7, 10))).toEqual(range(7, 10))
    })

    it('isOpen (when implemented) is true while open and false after close', async (ctx) => {
      const store = await open()
      if (!store.isOpen) ctx.skip(`${label} does not implement isOpen`)
      expect(store.isOpen!()).toBe(true)
      await store.append('doc', update(1))
      await close(store)
      expect(store.isOpen!()).toBe(false)
    })
  })
}
