// Shared state and helpers of one contract suite: the per-test harness (beforeEach/afterEach), store open/close, appends, reads, coherence checks.
import { afterEach, beforeEach, expect, type TestContext } from 'vitest'
import type { DocInfo, DocStore, LoadedDoc } from '../../src/storage/doc-store.js'
import { contents, pairs, update } from './fixtures.js'
import type { StoreHarness } from './contract.js'

/**
 * Timestamps may come from another clock (a database server's), so they are checked against the
 * test's clock with this much slack. It still catches seconds instead of milliseconds, or zero.
 */
export const CLOCK_SKEW_MS = 5_000

/** What `expectCoherent` saw: the load, its values, and the info read before it. */
export interface CoherentState {
  loaded: LoadedDoc
  values: number[]
  info: DocInfo | null
}

/** The helpers every topic module uses; each is documented where `createContractContext` builds it. */
export interface ContractContext {
  /** The store kind, as passed to `docStoreContract` (for skip messages). */
  label: string
  open: (options?: { compactAfterUpdates?: number; compactAfterBytes?: number }) => Promise<DocStore>
  close: (store: DocStore) => Promise<void>
  restarts: (ctx: TestContext) => (store: DocStore) => Promise<DocStore>
  siblings: (ctx: TestContext) => (store: DocStore) => Promise<DocStore>
  appendInOrder: (store: DocStore, name: string, values: number[], pad?: number) => Promise<number[]>
  appendAtOnce: (store: DocStore, name: string, values: number[]) => Promise<number[]>
  loadedValues: (store: DocStore, name: string) => Promise<number[]>
  names: (store: DocStore, options?: { prefix?: string; after?: string; limit?: number }) => Promise<string[]>
  expectCoherent: (store: DocStore, name: string, allowed: (value: number, seq: number | undefined) => boolean, seqOf: Map<number, number>) => Promise<CoherentState>
  expectUsable: (store: DocStore, name: string, before: { loaded: { seq: number }; values: number[]; info: DocInfo | null }, value: number) => Promise<void>
}

/**
 * Builds the helpers for one suite and registers its beforeEach/afterEach (a fresh harness per
 * test, every store it opened closed before the storage is removed). Call it inside the suite's describe.
 */
export function createContractContext(label: string, makeHarness: () => Promise<StoreHarness>): ContractContext {
  let harness: StoreHarness | undefined
  /** Stores the test has open; closed before the storage is removed, even when a test failed. */
  const live = new Set<DocStore>()

  beforeEach(async () => {
    harness = await makeHarness()
  })

  afterEach(async () => {
    for (const store of live) await store.close().catch(() => {})
    live.clear()
    await harness?.cleanup()
    harness = undefined
  })

  const open = async (options?: { compactAfterUpdates?: number; compactAfterBytes?: number }) => {
    const store = await harness!.open(options)
    live.add(store)
    return store
  }

  const close = async (store: DocStore) => {
    live.delete(store)
    await store.close()
  }

  /** The harness's restart, or skips the test (at its start, before any work) if there is none. */
  const restarts = (ctx: TestContext) => {
    const reopen = harness!.reopen?.bind(harness)
    if (!reopen) ctx.skip(`${label} cannot be reopened`)
    return async (store: DocStore) => {
      live.delete(store) // reopen closes it
      const next = await reopen!(store)
      live.add(next)
      return next
    }
  }

  /** The harness's second instance, or skips the test if the store cannot run two at once. */
  const siblings = (ctx: TestContext) => {
    const openSibling = harness!.openSibling?.bind(harness)
    if (!openSibling) ctx.skip(`${label} has no second instance on the same storage`)
    return async (store: DocStore) => {
      const sibling = await openSibling!(store)
      live.add(sibling)
      return sibling
    }
  }

  /** Appends `values` one after another, each acknowledged before the next; their seqs. */
  const appendInOrder = async (store: DocStore, name: string, values: number[], pad = 0) => {
    const seqs: number[] = []
    for (const v of values) seqs.push((await store.append(name, update(v, pad))).seq)
    return seqs
  }

  /** Appends `values` all in one event-loop turn; their seqs in call order. */
  const appendAtOnce = async (store: DocStore, name: string, values: number[]) =>
    (await Promise.all(values.map((v) => store.append(name, update(v))))).map((r) => r.seq)

  const loadedValues = async (store: DocStore, name: string) => contents((await store.load(name)).updates)

  const names = async (store: DocStore, options: { prefix?: string; after?: string; limit?: number } = {}) =>
    (await store.list({ limit: 1000, ...options })).map((d) => d.name)

  /**
   * Checks that `store`'s view of `name` hangs together once nothing is in flight: load, info,
   * list and readSince describe the same document, and it holds only values `allowed` to be
   * there. Returns what load saw. "Gone" is one consistent state (nothing anywhere); "present" is
   * the other (a log whose entries readSince returns, counted by info, listed).
   */
  const expectCoherent = async (store: DocStore, name: string, allowed: (value: number, seq: number | undefined) => boolean, seqOf: Map<number, number>) => {
    // Metadata first: a load may repair what it finds (LevelDB recovers seqs from the log),
    // and the question is what a reader asking info or list first would be told.
    const info = await store.info(name)
    const listed = (await names(store, { prefix: name })).includes(name)
    const loaded = await store.load(name)
    const values = contents(loaded.updates)
    for (const v of values) expect(allowed(v, seqOf.get(v)), `value ${v} (seq ${seqOf.get(v)}) should not be stored`).toBe(true)
    if (info === null) {
      // Gone: nothing may still be loadable or listed.
      expect(loaded.updates, 'info says the document is gone, but load returns updates').toEqual([])
      expect(listed, 'info says the document is gone, but list shows it').toBe(false)
    } else {
      expect(listed, 'info shows the document, list does not').toBe(true)
      expect(info.seq, 'info.seq and load().seq disagree with nothing in flight').toBe(loaded.seq)
      // No compaction ran since the document was (re)created, so everything is in the log.
      expect(info.logUpdates, 'info.logUpdates does not count what load returns').toBe(loaded.updates.length)
      const entries = await store.readSince(name, loaded.seq - info.logUpdates)
      expect(entries, 'readSince cannot produce the log that load returned').not.toBeNull()
      expect(contents(entries!.map((e) => e.update))).toEqual(values)
      // A seq names one update: every surviving entry holds the value whose append got that seq.
      for (const [seq, v] of pairs(entries)!) expect(seqOf.get(v), `entry ${seq} holds value ${v}`).toBe(seq)
    }
    return { loaded, values, info }
  }

  /** After `expectCoherent`: the document takes a new append at the next seq and keeps what it had. */
  const expectUsable = async (store: DocStore, name: string, before: { loaded: { seq: number }; values: number[]; info: DocInfo | null }, value: number) => {
    const { seq } = await store.append(name, update(value))
    expect(seq, "the next append does not follow load()'s seq").toBe(before.loaded.seq + 1)
    expect(pairs(await store.readSince(name, before.loaded.seq))).toEqual([[seq, value]])
    expect(await loadedValues(store, name)).toEqual([...before.values, value].sort((a, b) => a - b))
    const info = (await store.info(name))!
    expect(info.seq).toBe(seq)
    expect(info.logUpdates).toBe((before.info?.logUpdates ?? 0) + 1)
  }

  return { label, open, close, restarts, siblings, appendInOrder, appendAtOnce, loadedValues, names, expectCoherent, expectUsable }
}
