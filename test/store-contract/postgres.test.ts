/**
 * The store contract for PostgresDocStore on a real PostgreSQL: a database for this file, a schema
 * per opened store. A restart reopens the same schema; a sibling is a second store on the same
 * schema at the same time, as another Quire instance would be.
 */
import { afterAll, beforeAll } from 'vitest'
import { PostgresDocStore, type PostgresStoreOptions } from '../../src/index.js'
import type { DocStore } from '../../src/storage/doc-store.js'
import { createTestDatabase, randomSchema, type TestDatabase } from '../postgres-helpers.js'
import { docStoreContract } from './contract.js'

let database: TestDatabase

beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(async () => {
  await database?.drop()
})

docStoreContract('PostgresDocStore', async () => {
  const opened = new Map<DocStore, PostgresStoreOptions>()
  const schemas = new Set<string>()
  const openWith = async (options: PostgresStoreOptions) => {
    const store = await PostgresDocStore.open(options)
    opened.set(store, options)
    return store
  }
  const optionsOf = (store: DocStore) => {
    const options = opened.get(store)
    if (!options) throw new Error('not a store this harness opened')
    return options
  }
  return {
    async open(options = {}) {
      const schema = randomSchema()
      schemas.add(schema)
      return openWith({ connectionString: database.url, schema, ...options })
    },
    async reopen(store) {
      const options = optionsOf(store)
      await store.close()
      return openWith(options)
    },
    async openSibling(store) {
      return openWith(optionsOf(store))
    },
    async cleanup() {
      for (const schema of schemas) await database.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    },
  }
})
