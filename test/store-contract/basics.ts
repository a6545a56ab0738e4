// Documents and sequence numbers (load, append, info) and readSince.
import { describe, expect, it } from 'vitest'
import { contents, pairs, range, stateOfValues, turn, update } from './fixtures.js'
import { CLOCK_SKEW_MS, type ContractContext } from './context.js'

/** Registers 'documents and sequence numbers'. */
export function documentsTests(context: ContractContext): void {
  const { open, appendInOrder, loadedValues } = context
  describe('documents and sequence numbers', () => {
    it('a document never stored loads empty at seq 0, has no info, no log and no versions', async () => {
      const store = await open()
      expect(await store.load('never')).toEqual({ updates: [], seq: 0 })
      expect(await store.info('never')).toBeNull()
      expect(await store.readSince('never', 0)).toEqual([]) // up to date: nothing was assigned
      expect(await store.versions.list('never')).toEqual([])
      expect(await store.versions.read('never', 1)).toBeNull()
    })

    it('appends get seqs 1, 2, 3… in call order, and every append of one turn resolves', async () => {
      const store = await open()
      const appended: Uint8Array[] = []
      const seqs: number[] = []
      // One at a time…
      for (const v of range(1, 3)) {
        const u = update(v)
        appended.push(u)
        seqs.push((await store.append('doc', u)).seq)
      }
      // …twenty in one turn (a group commit must resolve them all, in call order)…
      const burst = range(4, 23).map((v) => update(v))
      appended.push(...burst)
      seqs.push(...(await Promise.all(burst.map((u) => store.append('doc', u)))).map((r) => r.seq))
      // …and a few per turn over several turns, none awaited before the next is issued.
      const spread: Array<Promise<{ seq: number }>> = []
      for (let t = 0; t < 5; t++) {
        for (const v of range(24 + t * 4, 27 + t * 4)) {
          const u = update(v)
          appended.push(u)
          spread.push(store.append('doc', u))
        }
        await turn()
      }
      seqs.push(...(await Promise.all(spread)).map((r) => r.seq))
      expect(seqs).toEqual(range(1, 43))

      const loaded = await store.load('doc')
      expect(loaded.seq).toBe(43)
      // Never compacted: the log is all there is (a store may put an empty base in front), and it
      // comes back byte for byte in seq order.
      expect(loaded.updates.length).toBeGreaterThanOrEqual(43)
      expect(loaded.updates.length).toBeLessThanOrEqual(44)
      expect(loaded.updates.slice(-43).map((u) => Buffer.from(u))).toEqual(appended.map((u) => Buffer.from(u)))
      expect(contents(loaded.updates)).toEqual(range(1, 43))
    })

    it('seqs and logs are per document, even for names that are prefixes of each other', async () => {
      const store = await open()
      // Names chosen to trip key layouts without a separator: 'doc' + seq vs 'doc2', 'doc/x'…
      const docs = ['do', 'doc', 'doc2', 'doc/x', 'doc\u00e9']
      const issued = docs.map(() => [] as Array<Promise<{ seq: number }>>)
      for (let i = 0; i < 6; i++) {
        docs.forEach((name, d) => issued[d]!.push(store.append(name, update(100 * (d + 1) + i))))
      }
      for (const [d, name] of docs.entries()) {
        expect((await Promise.all(issued[d]!)).map((r) => r.seq), name).toEqual(range(1, 6))
        const own = range(100 * (d + 1), 100 * (d + 1) + 5)
        expect(await loadedValues(store, name), name).toEqual(own)
        expect(pairs(await store.readSince(name, 0)), name).toEqual(own.map((v, i) => [i + 1, v]))
        expect((await store.info(name))!.seq, name).toBe(6)
      }
    })

    it('info reports seq, log size and times; createdAt stays, updatedAt moves forward', async () => {
      const store = await open()
      const before = Date.now()
      await appendInOrder(store, 'doc', range(1, 3), 100)
      const first = (await store.info('doc'))!
      const after = Date.now()
      expect(first.name).toBe('doc')
      expect(first.seq).toBe(3)
      expect(first.logUpdates).toBe(3)
      expect(first.bytes).toBeGreaterThan(0)
      expect(first.createdAt).toBeGreaterThanOrEqual(before - CLOCK_SKEW_MS)
      expect(first.createdAt).toBeLessThanOrEqual(after + CLOCK_SKEW_MS)
      expect(first.createdAt).toBeLessThanOrEqual(first.updatedAt)

      await appendInOrder(store, 'doc', range(4, 5), 100)
      const second = (await store.info('doc'))!
      expect(second.seq).toBe(5)
      expect(second.logUpdates).toBe(5)
      expect(second.bytes, 'two more 100-byte updates are stored').toBeGreaterThan(first.bytes + 200)
      expect(second.createdAt).toBe(first.createdAt)
      expect(second.updatedAt).toBeGreaterThanOrEqual(first.updatedAt)
      expect(await store.info('other')).toBeNull()
    })
  })
}

/** Registers 'readSince'. */
export function readSinceTests(context: ContractContext): void {
  const { open, appendInOrder } = context
  describe('readSince', () => {
    it('returns exactly the entries after a seq, and [] when up to date', async () => {
      const store = await open()
      const appended = range(1, 8).map((v) => update(v))
      for (const u of appended) await store.append('doc', u)
      const since0 = (await store.readSince('doc', 0))!
      expect(since0.map((e) => e.seq)).toEqual(range(1, 8))
      expect(since0.map((e) => Buffer.from(e.update))).toEqual(appended.map((u) => Buffer.from(u)))
      expect(pairs(await store.readSince('doc', 5))).toEqual([[6, 6], [7, 7], [8, 8]])
      expect(pairs(await store.readSince('doc', 7))).toEqual([[8, 8]])
      expect(await store.readSince('doc', 8)).toEqual([])
      await store.append('doc', update(9))
      expect(pairs(await store.readSince('doc', 8))).toEqual([[9, 9]])
    })

    it('returns null for a run that compaction folded away, entries for one still in the log', async () => {
      const store = await open()
      await appendInOrder(store, 'doc', range(1, 8))
      await store.compact('doc', { state: stateOfValues(range(1, 4)), seq: 4 })
      expect(await store.readSince('doc', 0)).toBeNull()
      expect(await store.readSince('doc', 3)).toBeNull()
      // The run after the base is entirely in the log, so it must be answered, not refused.
      expect(pairs(await store.readSince('doc', 4))).toEqual([[5, 5], [6, 6], [7, 7], [8, 8]])
      expect(pairs(await store.readSince('doc', 6))).toEqual([[7, 7], [8, 8]])
      expect(await store.readSince('doc', 8)).toEqual([])

      await store.compact('doc')
      expect(await store.readSince('doc', 7)).toBeNull()
      expect(await store.readSince('doc', 8)).toEqual([])
      await store.append('doc', update(9))
      expect(pairs(await store.readSince('doc', 8))).toEqual([[9, 9]])
    })
  })
}
