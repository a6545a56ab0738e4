/**
 * The DocStore contract: one suite every store must pass (LevelDB, PostgreSQL, the in-memory
 * reference store). It reads the promises in src/storage/doc-store.ts literally and checks them
 * through the interface only, so any store can be plugged in through a `StoreHarness`:
 *
 *   docStoreContract('MyStore', async () => ({ open, reopen?, openSibling?, cleanup }))
 *
 * Content is checked with real Yjs updates, one independent client per update (fixtures.ts), so
 * "applying load() gives the same document" means exactly "no update lost, none invented".
 * Concurrency is exercised by issuing calls within one event-loop turn or spread over several
 * turns (`turn()`), and every outcome is awaited through its own promise: no timing assumptions.
 *
 * Tests that need `reopen` or `openSibling` are skipped (reported as skipped) when the harness
 * does not provide them.
 *
 * Layout: context.ts builds the shared helpers and the per-test harness; each topic registers its
 * describe blocks from its own module (basics.ts, list.ts, compaction.ts, versions-delete.ts,
 * durability.ts, concurrency.ts, two-instances.ts), in the order below.
 */
import { describe } from 'vitest'
import type { DocStore } from '../../src/storage/doc-store.js'
import { documentsTests, readSinceTests } from './basics.js'
import { compactionTests } from './compaction.js'
import { concurrencyTests } from './concurrency.js'
import { createContractContext } from './context.js'
import { durabilityTests } from './durability.js'
import { listTests } from './list.js'
import { twoInstancesTests } from './two-instances.js'
import { versionsDeleteTests } from './versions-delete.js'

export interface StoreHarness {
  /** Opens a store on fresh, isolated storage. */
  open(options?: { compactAfterUpdates?: number; compactAfterBytes?: number }): Promise<DocStore>
  /** Closes `store` and opens another on the same storage (a restart); absent if the store cannot. */
  reopen?(store: DocStore): Promise<DocStore>
  /** A second, independent store on the same storage at the same time (another instance); absent for single-process stores like LevelDB. */
  openSibling?(store: DocStore): Promise<DocStore>
  /** Removes the storage. */
  cleanup(): Promise<void>
}

/** Registers the whole suite (describe blocks) for one store kind. */
export function docStoreContract(label: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`DocStore contract: ${label}`, () => {
    const context = createContractContext(label, makeHarness)
    documentsTests(context)
    listTests(context)
    readSinceTests(context)
    compactionTests(context)
    versionsDeleteTests(context)
    durabilityTests(context)
    concurrencyTests(context)
    twoInstancesTests(context)
  })
}
