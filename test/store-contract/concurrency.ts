// Concurrency within one store: appends, reads, compactions, deletes and version creates racing.
import { describe, expect, it } from 'vitest'
import type { LogEntry } from '../../src/storage/doc-store.js'
import { Appends, contents, pairs, range, stateOf, stateOfValues, turn, update } from './fixtures.js'
import type { ContractContext } from './context.js'

/** Registers 'concurrency within one store'. */
export function concurrencyTests(context: ContractContext): void {
  const { open, appendInOrder, appendAtOnce, loadedValues, expectCoherent, expectUsable } = context
  describe('concurrency within one store', () => {
    it('many documents appended to at once: per-document seqs contiguous in call order, reads consistent', async () => {
      const store = await open()
      const docs = ['d0', 'd1', 'd/2', 'd\u00e93', 'D4', 'd5']
      const appends = docs.map(() => new Appends())
      const loads: Array<{ d: number; acked: number; result: Promise<{ updates: Uint8Array[]; seq: number }> }> = []
      const reads: Array<{ d: number; acked: number; result: Promise<LogEntry[] | null> }> = []
      for (let t = 0; t < 8; t++) {
        for (let i = 0; i < 4; i++) {
          for (const [d, name] of docs.entries()) void appends[d]!.append(store, name, 1000 * (d + 1) + t * 4 + i).catch(() => {})
        }
        const d = t % docs.length
        // Reads interleaved with the writes; what they may return is checked once all settled.
        loads.push({ d, acked: appends[d]!.acked(), result: store.load(docs[d]!) })
        reads.push({ d, acked: appends[d]!.acked(), result: store.readSince(docs[d]!, 0) })
        if (t % 3 === 1) store.release(docs[(t + 2) % docs.length]!)
        await turn()
      }
      for (const [d, name] of docs.entries()) {
        expect(await appends[d]!.all(), name).toEqual(range(1, 32))
        expect(await loadedValues(store, name), name).toEqual(range(1000 * (d + 1), 1000 * (d + 1) + 31))
        expect(pairs(await store.readSince(name, 0)), name).toEqual(range(1, 32).map((s) => [s, appends[d]!.valueAt.get(s)]))
      }
      for (const { d, acked, result } of loads) {
        const loaded = await result
        expect(loaded.seq, 'load() must cover every acknowledged append').toBeGreaterThanOrEqual(acked)
        // "Every update stored with a seq up to this one is included".
        expect(contents(loaded.updates)).toEqual(expect.arrayContaining(appends[d]!.valuesUpTo(loaded.seq)))
      }
      for (const { d, acked, result } of reads) {
        const entries = (await result)!
        expect(entries, 'nothing was compacted: the whole log is there').not.toBeNull()
        expect(entries.length).toBeGreaterThanOrEqual(acked)
        expect(pairs(entries)).toEqual(entries.map((e) => [e.seq, appends[d]!.valueAt.get(e.seq)]))
        expect(entries.map((e) => e.seq)).toEqual(range(1, entries.length))
      }
    })

    it('compaction racing appends: no update lost, readSince answers exact or null', async () => {
      const store = await open()
      await appendAtOnce(store, 'doc', range(1, 20))
      const appends = new Appends()
      const reads: Array<{ from: number; acked: number; result: Promise<LogEntry[] | null> }> = []
      // Appends already queued when the compaction starts, and more in the same turn after it.
      for (const v of range(21, 25)) void appends.append(store, 'doc', v).catch(() => {})
      const compaction = store.compact('doc', { state: stateOfValues(range(1, 20)), seq: 20 })
      for (const v of range(26, 30)) void appends.append(store, 'doc', v).catch(() => {})
      for (let t = 0; t < 10; t++) {
        await turn()
        for (let i = 0; i < 3; i++) void appends.append(store, 'doc', 31 + t * 3 + i).catch(() => {})
        for (const from of [0, 19, 20, Math.max(20, appends.acked() - 2)]) reads.push({ from, acked: appends.acked(), result: store.readSince('doc', from) })
      }
      await compaction
      expect(await appends.all()).toEqual(range(21, 60))

      expect(await loadedValues(store, 'doc')).toEqual(range(1, 60))
      expect((await store.load('doc')).seq).toBe(60)
      expect(pairs(await store.readSince('doc', 20))).toEqual(range(21, 60).map((v) => [v, v]))
      expect(await store.readSince('doc', 19)).toBeNull()
      const info = (await store.info('doc'))!
      expect(info.seq).toBe(60)
      expect(info.logUpdates).toBe(40)
      for (const { from, acked, result } of reads) {
        const entries = await result
        // From the base on, the run is always entirely in the log: it must be answered.
        if (from >= 20) expect(entries, `readSince(${from}) refused a run that was in the log`).not.toBeNull()
        if (entries === null) continue
        expect(entries.map((e) => e.seq), `readSince(${from})`).toEqual(range(from + 1, from + entries.length))
        expect(from + entries.length, `readSince(${from}) stops before the acknowledged seq ${acked}`).toBeGreaterThanOrEqual(acked)
        expect(pairs(entries)).toEqual(entries.map((e) => [e.seq, e.seq])) // value v was given seq v
      }
    })

    it("compactions of loaded state while appends continue: load's seq never claims an update it lacks", async () => {
      const store = await open()
      await appendAtOnce(store, 'doc', range(1, 10))
      const appends = new Appends()
      const loads: Array<{ seq: number; values: number[] }> = []
      const writer = async () => {
        for (let t = 0; t < 30; t++) {
          for (let i = 0; i < 2; i++) void appends.append(store, 'doc', 11 + t * 2 + i).catch(() => {})
          await turn()
        }
      }
      // What a room does on unload or past the threshold: compact with the state it has and the
      // seq that state covers. If load's seq claimed an update missing from its updates, that
      // update would be folded away and lost.
      const compactor = async () => {
        for (let round = 0; round < 6; round++) {
          const loaded = await store.load('doc')
          loads.push({ seq: loaded.seq, values: contents(loaded.updates) })
          if (round % 2 === 0) await store.compact('doc', { state: stateOf(loaded.updates), seq: loaded.seq })
          else await store.compact('doc')
          await turn()
        }
      }
      await Promise.all([writer(), compactor()])
      const seqs = await appends.all()
      expect(seqs).toEqual(range(11, 70))
      expect(await loadedValues(store, 'doc')).toEqual(range(1, 70))
      for (const { seq, values } of loads) expect(values).toEqual(expect.arrayContaining([...range(1, 10), ...appends.valuesUpTo(seq)]))
      expect((await store.append('doc', update(71))).seq).toBe(71)
    })

    it('compaction racing compaction: content intact, stale snapshots ignored, no seq reused', async () => {
      const store = await open()
      await appendAtOnce(store, 'doc', range(1, 30))
      const appends = new Appends()
      const all: Array<Promise<unknown>> = []
      all.push(store.compact('doc', { state: stateOfValues(range(1, 10)), seq: 10 }))
      all.push(store.compact('doc'))
      for (const v of range(31, 33)) all.push(appends.append(store, 'doc', v))
      all.push(store.compact('doc', { state: stateOfValues(range(1, 20)), seq: 20 }))
      all.push(store.compact('doc', { state: stateOfValues(range(1, 5)), seq: 5 }))
      for (const v of range(34, 35)) all.push(appends.append(store, 'doc', v))
      all.push(store.compact('doc'))
      all.push(store.compact('doc', { state: stateOfValues(range(1, 30)), seq: 30 }))
      await Promise.all(all)
      expect(await appends.all()).toEqual(range(31, 35))

      const loaded = await store.load('doc')
      expect(contents(loaded.updates)).toEqual(range(1, 35))
      expect(loaded.seq).toBe(35)
      const info = (await store.info('doc'))!
      expect(info.seq).toBe(35)
      // The log is what load returned after its base, and readSince finds exactly that run.
      expect(info.logUpdates).toBe(loaded.updates.length - 1)
      expect(pairs(await store.readSince('doc', 35 - info.logUpdates))).toEqual(range(36 - info.logUpdates, 35).map((v) => [v, v]))
      if (info.logUpdates < 35) expect(await store.readSince('doc', 34 - info.logUpdates)).toBeNull()
      expect((await store.append('doc', update(36))).seq).toBe(36)
      expect(pairs(await store.readSince('doc', 35))).toEqual([[36, 36]])
    })

    it('delete racing appends: afterwards the document is gone or coherent, and works again', async () => {
      const store = await open()
      // The delete is issued at a different point of the append stream each round, so that it
      // lands before, between and after the stages of the appends around it.
      for (const at of [0, 1, 2, 3, 5, 8]) {
        const name = `race${at}`
        const appends = new Appends()
        for (const v of range(1, 5)) await appends.append(store, name, v)
        const beforeDelete = range(1, 5)
        let deletion: Promise<boolean> | undefined
        for (let t = 0; t < 12; t++) {
          const v = 10 + t * 2
          void appends.append(store, name, v).catch(() => {})
          if (deletion === undefined) beforeDelete.push(v)
          if (t === at) deletion = store.delete(name)
          void appends.append(store, name, v + 1).catch(() => {})
          await turn()
        }
        expect(await deletion, name).toBe(true)
        const outcomes = await Promise.allSettled(appends.issued.values())
        const values = [...appends.issued.keys()]
        // Appends issued before the delete are its pending writes: they succeed, then are deleted.
        for (const v of beforeDelete) expect(outcomes[values.indexOf(v)]!.status, `${name}: append ${v}`).toBe('fulfilled')
        const state = await expectCoherent(store, name, (v) => !beforeDelete.includes(v) && appends.seqOf.has(v), appends.seqOf)
        // One store orders its own appends: those that survived are the last ones that succeeded.
        const succeeded = values.filter((v) => appends.seqOf.has(v))
        expect(state.values, `${name}: survivors are not the latest appends`).toEqual(succeeded.slice(succeeded.length - state.values.length))
        await expectUsable(store, name, state, 999)
      }
    })

    it('version creates racing a delete: no version outlives its document', async () => {
      const store = await open()
      for (const at of [0, 1, 2]) {
        const name = `v${at}`
        await appendInOrder(store, name, range(1, 3))
        const calls: Array<Promise<unknown>> = []
        for (let i = 0; i < 4; i++) {
          if (i === at) calls.push(store.delete(name))
          calls.push(store.versions.create(name, `v${i}`, stateOfValues(range(1, 3))))
        }
        await Promise.allSettled(calls)
        expect(await store.info(name), name).toBeNull()
        expect(await store.versions.list(name), name).toEqual([])
        // Recreating the document must not bring an orphaned version back.
        await store.append(name, update(4))
        expect(await store.versions.list(name), name).toEqual([])
        for (const id of range(1, 4)) expect(await store.versions.read(name, id), `${name} version ${id}`).toBeNull()
      }
    })
  })
}
