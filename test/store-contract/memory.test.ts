/**
 * The store contract against the in-memory reference store: validates the suite itself (this store
 * is simple enough to be right by inspection), including the restart and two-instance tests that
 * LevelDB cannot run. Restart and sibling share the MemoryStorage, as a database would be shared.
 */
import type { DocStore } from '../../src/storage/doc-store.js'
import { docStoreContract } from './contract.js'
import { MemoryDocStore } from './memory-store.js'

docStoreContract('MemoryDocStore (reference)', async () => {
  const options = new Map<DocStore, ConstructorParameters<typeof MemoryDocStore>[1]>()
  const storageOf = (store: DocStore) => {
    if (!(store instanceof MemoryDocStore)) throw new Error('not a store this harness opened')
    return store.storage
  }
  return {
    async open(opts = {}) {
      const store = new MemoryDocStore(undefined, opts)
      options.set(store, opts)
      return store
    },
    async reopen(store) {
      await store.close()
      const next = new MemoryDocStore(storageOf(store), options.get(store))
      options.set(next, options.get(store))
      return next
    },
    async openSibling(store) {
      const sibling = new MemoryDocStore(storageOf(store), options.get(store))
      options.set(sibling, options.get(store))
      return sibling
    },
    async cleanup() {},
  }
})
