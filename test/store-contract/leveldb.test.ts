/** The store contract for LevelDocStore: real LevelDB in temp dirs. One process only, so no sibling. */
import { LevelDocStore, type LevelStoreOptions } from '../../src/index.js'
import type { DocStore } from '../../src/storage/doc-store.js'
import { cleanup, tempDir } from '../helpers.js'
import { docStoreContract } from './contract.js'

docStoreContract('LevelDocStore', async () => {
  // Where each open store lives, so that a restart reopens the same directory with the same options.
  const opened = new Map<DocStore, { dir: string; options: LevelStoreOptions }>()
  return {
    async open(options = {}) {
      const dir = await tempDir('quire-contract-')
      const store = await LevelDocStore.open(dir, options)
      opened.set(store, { dir, options })
      return store
    },
    async reopen(store) {
      const where = opened.get(store)
      if (!where) throw new Error('reopen: not a store this harness opened')
      await store.close()
      const next = await LevelDocStore.open(where.dir, where.options)
      opened.set(next, where)
      return next
    },
    // LevelDB locks its directory: a second instance would get DataDirInUseError, so none is offered.
    cleanup, // removes the temp dirs (the suite closes its stores first)
  }
})
