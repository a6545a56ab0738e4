// Concurrency between two instances on the same storage (skipped when the harness has no openSibling).
import { describe, expect, it } from 'vitest'
import { Appends, contents, pairs, range, stateOf, stateOfValues, turn, update } from './fixtures.js'
import type { ContractContext } from './context.js'

/** Registers 'concurrency between two instances'. */
export function twoInstancesTests(context: ContractContext): void {
  const { open, siblings, appendInOrder, appendAtOnce, loadedValues, expectCoherent, expectUsable } = context
  describe('concurrency between two instances', () => {
    it('each instance sees what the other wrote: no stale seq, content, info or version id', async (ctx) => {
      const sibling = siblings(ctx)
      const a = await open()
      const b = await sibling(a)
      await appendInOrder(a, 'doc', range(1, 3))
      expect(await b.load('doc')).toMatchObject({ seq: 3 })
      expect(await loadedValues(b, 'doc')).toEqual(range(1, 3))
      expect((await b.info('doc'))!.seq).toBe(3)
      expect((await b.append('doc', update(4))).seq).toBe(4)
      // `a` has the document cached from its own appends; it must not hand out 4 again.
      expect((await a.append('doc', update(5))).seq).toBe(5)
      for (const store of [a, b]) {
        expect(await loadedValues(store, 'doc')).toEqual(range(1, 5))
        expect(pairs(await store.readSince('doc', 3))).toEqual([[4, 4], [5, 5]])
        expect((await store.list({ limit: 10 })).map((d) => [d.name, d.seq, d.logUpdates])).toEqual([['doc', 5, 5]])
      }
      expect((await b.versions.create('doc', 'from b', stateOfValues(range(1, 5))))!.id).toBe(1)
      expect((await a.versions.create('doc', 'from a', stateOfValues(range(1, 5))))!.id).toBe(2)
      expect((await a.versions.list('doc')).map((v) => v.label)).toEqual(['from b', 'from a'])
      await b.compact('doc')
      expect((await a.info('doc'))!.logUpdates).toBe(0)
      expect(await a.readSince('doc', 4)).toBeNull()
      expect((await a.append('doc', update(6))).seq).toBe(6)
      expect(await loadedValues(b, 'doc')).toEqual(range(1, 6))

      expect(await a.delete('doc')).toBe(true)
      expect(await b.info('doc')).toBeNull()
      expect((await b.load('doc')).updates).toEqual([])
      expect(await b.versions.list('doc')).toEqual([])
      expect(await b.delete('doc')).toBe(false)
      const loaded = await b.load('doc')
      expect((await b.append('doc', update(7))).seq).toBe(loaded.seq + 1)
      expect(await loadedValues(a, 'doc')).toEqual([7])
    })

    it('two writers on one document: seqs unique and contiguous, everything loadable from both', async (ctx) => {
      const sibling = siblings(ctx)
      const a = await open()
      const b = await sibling(a)
      const fromA = new Appends()
      const fromB = new Appends()
      // The document does not exist yet: both instances create it in the same turn.
      for (let t = 0; t < 10; t++) {
        for (let i = 0; i < 3; i++) {
          void fromA.append(a, 'doc', 1 + t * 6 + i).catch(() => {})
          void fromB.append(b, 'doc', 4 + t * 6 + i).catch(() => {})
        }
        await turn()
      }
      const seqsA = await fromA.all()
      const seqsB = await fromB.all()
      expect([...seqsA, ...seqsB].sort((x, y) => x - y)).toEqual(range(1, 60))
      // Each instance's own appends still get seqs in its call order.
      expect(seqsA).toEqual([...seqsA].sort((x, y) => x - y))
      expect(seqsB).toEqual([...seqsB].sort((x, y) => x - y))
      const valueAt = new Map([...fromA.valueAt, ...fromB.valueAt])
      for (const store of [a, b]) {
        const loaded = await store.load('doc')
        expect(loaded.seq).toBe(60)
        expect(contents(loaded.updates)).toEqual(range(1, 60))
        expect(pairs(await store.readSince('doc', 0))).toEqual(range(1, 60).map((s) => [s, valueAt.get(s)]))
        expect(await store.info('doc')).toMatchObject({ seq: 60, logUpdates: 60 })
      }
    })

    it('one instance compacts while the other appends: nothing lost', async (ctx) => {
      const sibling = siblings(ctx)
      const a = await open()
      const b = await sibling(a)
      await appendAtOnce(a, 'doc', range(1, 10))
      const appends = new Appends()
      const loads: Array<{ seq: number; values: number[] }> = []
      const writer = async () => {
        for (let t = 0; t < 30; t++) {
          for (let i = 0; i < 2; i++) void appends.append(b, 'doc', 11 + t * 2 + i).catch(() => {})
          await turn()
        }
      }
      const compactor = async () => {
        for (let round = 0; round < 6; round++) {
          const loaded = await a.load('doc')
          loads.push({ seq: loaded.seq, values: contents(loaded.updates) })
          if (round % 2 === 0) await a.compact('doc', { state: stateOf(loaded.updates), seq: loaded.seq })
          else await a.compact('doc')
          await turn()
        }
      }
      await Promise.all([writer(), compactor()])
      expect(await appends.all()).toEqual(range(11, 70))
      for (const { seq, values } of loads) expect(values).toEqual(expect.arrayContaining([...range(1, 10), ...appends.valuesUpTo(seq)]))
      for (const store of [a, b]) {
        expect(await loadedValues(store, 'doc')).toEqual(range(1, 70))
        expect(await store.readSince('doc', 70)).toEqual([])
      }
      expect((await a.append('doc', update(71))).seq).toBe(71)
      expect((await b.append('doc', update(72))).seq).toBe(72)
    })

    it('both instances compact at once: content intact, no seq reused', async (ctx) => {
      const sibling = siblings(ctx)
      const a = await open()
      const b = await sibling(a)
      await appendAtOnce(a, 'doc', range(1, 20))
      await appendAtOnce(b, 'doc', range(21, 30))
      const fromB = await b.load('doc')
      const appends = new Appends()
      await Promise.all([
        a.compact('doc'),
        b.compact('doc', { state: stateOf(fromB.updates), seq: fromB.seq }),
        appends.append(a, 'doc', 31),
        appends.append(b, 'doc', 32),
        a.compact('doc', { state: stateOfValues(range(1, 10)), seq: 10 }), // stale
        b.compact('doc'),
        appends.append(b, 'doc', 33),
        a.compact('doc', { state: stateOfValues(range(1, 25)), seq: 25 }),
      ])
      expect((await appends.all()).sort((x, y) => x - y)).toEqual([31, 32, 33])
      for (const store of [a, b]) {
        const loaded = await store.load('doc')
        expect(contents(loaded.updates)).toEqual(range(1, 33))
        expect(loaded.seq).toBe(33)
        const info = (await store.info('doc'))!
        expect(info.seq).toBe(33)
        expect(info.logUpdates).toBe(loaded.updates.length - 1)
        const entries = await store.readSince('doc', 33 - info.logUpdates)
        expect(pairs(entries)).toEqual(range(34 - info.logUpdates, 33).map((s) => [s, appends.valueAt.get(s) ?? s]))
      }
      expect((await a.append('doc', update(34))).seq).toBe(34)
      expect((await b.append('doc', update(35))).seq).toBe(35)
    })

    it('version creates from both instances get distinct ids', async (ctx) => {
      const sibling = siblings(ctx)
      const a = await open()
      const b = await sibling(a)
      await a.append('doc', update(1))
      const state = stateOfValues([1])
      const created = await Promise.all([a, b, a, b, a, b].map((store, i) => store.versions.create('doc', `v${i}`, state)))
      expect(created.map((v) => v!.id).sort((x, y) => x - y)).toEqual(range(1, 6))
      for (const [i, v] of created.entries()) {
        const other = i % 2 === 0 ? b : a
        expect((await other.versions.read('doc', v!.id))!.info.label).toBe(`v${i}`)
      }
    })

    it('a delete on one instance racing appends on the other: gone or coherent on both', async (ctx) => {
      const sibling = siblings(ctx)
      const a = await open()
      const b = await sibling(a)
      for (const at of [0, 1, 3, 6]) {
        const name = `race${at}`
        const appends = new Appends()
        for (const v of range(1, 5)) await appends.append(b, name, v)
        let deletion: Promise<boolean> | undefined
        for (let t = 0; t < 10; t++) {
          if (t === at) deletion = a.delete(name)
          for (let i = 0; i < 2; i++) void appends.append(b, name, 10 + t * 2 + i).catch(() => {})
          await turn()
        }
        expect(await deletion, name).toBe(true)
        await Promise.allSettled(appends.issued.values())
        // Acknowledged before the delete was issued, so certainly deleted.
        const deleted = range(1, 5)
        const allowed = (v: number) => !deleted.includes(v) && appends.seqOf.has(v)
        await expectCoherent(b, name, allowed, appends.seqOf)
        const state = await expectCoherent(a, name, allowed, appends.seqOf)
        await expectUsable(a, name, state, 998)
        await expectUsable(b, name, { loaded: await b.load(name), values: [...state.values, 998], info: await b.info(name) }, 999)
      }
    })
  })
}
