/**
 * PostgresDocStore against a real PostgreSQL: the DocStore contract, and what sharing one database
 * between instances adds to it (seqs assigned by the database, compaction under several writers).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { PostgresDocStore, type PostgresStoreOptions } from '../src/index.js'
import { prefixEnd } from '../src/storage/postgres.js'
import { waitFor } from './helpers.js'
import { createTestDatabase, randomSchema, tcpProxy, type TestDatabase } from './postgres-helpers.js'

let database: TestDatabase
const stores: PostgresDocStore[] = []

beforeAll(async () => {
  database = await createTestDatabase()
})
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => {})
})
afterAll(async () => {
  await database?.drop()
})

async function open(schema: string, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresDocStore> {
  const store = await PostgresDocStore.open({ connectionString: database.url, schema, healthCheckIntervalMs: 200, ...options })
  stores.push(store)
  return store
}

/** A writer: each update pushes `tag:i` onto a shared Y.Array, depending only on the writer's own earlier updates. */
function writer(tag: string, count: number): Uint8Array[] {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  for (let i = 0; i < count; i++) doc.getArray<string>('a').push([`${tag}:${i}`])
  doc.destroy()
  return updates
}

function contentOf(updates: Uint8Array[]): string[] {
  const doc = new Y.Doc()
  for (const u of updates) Y.applyUpdate(doc, u)
  const items = doc.getArray<string>('a').toArray()
  doc.destroy()
  return items.sort()
}

const expectedItems = (tag: string, count: number) => Array.from({ length: count }, (_, i) => `${tag}:${i}`)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/**
 * Two instances append to one document in rounds: in each round both send a burst in the same
 * event-loop turn (so their statements race for the document's row), who goes first alternating.
 * Each round is awaited, so every round's seqs lie above the previous round's: the two
 * instances' seqs interleave whoever wins each race. Resolves with each instance's seqs.
 */
async function appendInRounds(pairs: Array<[PostgresDocStore, Uint8Array[]]>, name: string, burst: number): Promise<number[][]> {
  const seqs: number[][] = pairs.map(() => [])
  const rounds = Math.max(...pairs.map(([, updates]) => Math.ceil(updates.length / burst)))
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? pairs.map((_, i) => i) : pairs.map((_, i) => pairs.length - 1 - i)
    const issued = order.map((i) => {
      const [store, updates] = pairs[i]!
      return Promise.all(updates.slice(round * burst, (round + 1) * burst).map((u) => store.append(name, u)))
    })
    const results = await Promise.all(issued)
    order.forEach((i, k) => seqs[i]!.push(...results[k]!.map((r) => r.seq)))
  }
  return seqs
}

describe('PostgresDocStore', () => {
  it('assigns contiguous seqs in append order, per document, and loads them back after a reopen', async () => {
    const schema = randomSchema()
    const store = await open(schema)
    const updates = writer('x', 10)
    const results = await Promise.all(updates.map((u) => store.append('doc', u)))
    expect(results.map((r) => r.seq)).toEqual(range(1, 10))
    expect(results.every((r) => !r.compactionDue)).toBe(true)
    expect((await store.append('other', writer('y', 1)[0]!)).seq).toBe(1)
    await store.close()

    const again = await open(schema)
    const loaded = await again.load('doc')
    expect(loaded.seq).toBe(10)
    expect(contentOf(loaded.updates)).toEqual(expectedItems('x', 10).sort())
    expect(loaded.updates.every((u) => u.constructor === Uint8Array)).toBe(true)
    expect((await again.readSince('doc', 7))!.map((e) => e.seq)).toEqual([8, 9, 10])
    expect(await again.load('never-written')).toEqual({ updates: [], seq: 0 })
    expect((await again.append('doc', writer('x', 11)[10]!)).seq).toBe(11)
  })

  it('reports compaction as due from the log counters the database keeps', async () => {
    const store = await open(randomSchema(), { compactAfterUpdates: 5 })
    const seqs = await Promise.all(writer('x', 4).map((u) => store.append('doc', u)))
    expect(seqs.every((r) => !r.compactionDue)).toBe(true)
    expect((await store.append('doc', writer('x', 5)[4]!)).compactionDue).toBe(true)
    const bytesStore = await open(randomSchema(), { compactAfterBytes: 10 })
    expect((await bytesStore.append('doc', writer('x', 1)[0]!)).compactionDue).toBe(true)
  })

  it('gives two instances appending to one document unique, contiguous seqs', async () => {
    const schema = randomSchema()
    const [a, b] = [await open(schema), await open(schema)]
    const [fromA, fromB] = [writer('a', 200), writer('b', 200)]
    const [seqsA, seqsB] = (await appendInRounds([[a, fromA], [b, fromB]], 'doc', 8)) as [number[], number[]]
    expect(Math.max(...seqsA)).toBeGreaterThan(Math.min(...seqsB)) // they did take turns
    expect(Math.max(...seqsB)).toBeGreaterThan(Math.min(...seqsA))
    // Each instance's seqs follow its call order; together they are 1..400, each once.
    expect(seqsA).toEqual([...seqsA].sort((x, y) => x - y))
    expect(seqsB).toEqual([...seqsB].sort((x, y) => x - y))
    expect([...seqsA, ...seqsB].sort((x, y) => x - y)).toEqual(range(1, 400))

    const third = await open(schema)
    const loaded = await third.load('doc')
    expect(loaded.seq).toBe(400)
    expect(contentOf(loaded.updates)).toEqual([...expectedItems('a', 200), ...expectedItems('b', 200)].sort())
    const log = (await third.readSince('doc', 0))!
    expect(log.map((e) => e.seq)).toEqual(range(1, 400))
    // Each stored update is the one its append returned the seq for.
    const stored = new Map(log.map((e) => [e.seq, e.update]))
    seqsA.forEach((seq, i) => expect(stored.get(seq)).toEqual(fromA[i]))
    seqsB.forEach((seq, i) => expect(stored.get(seq)).toEqual(fromB[i]))
    expect(await third.info('doc')).toMatchObject({ seq: 400, logUpdates: 400 })
  })

  it('keeps READ COMMITTED semantics when the server defaults to SERIALIZABLE', async () => {
    const url = new URL(database.url)
    url.searchParams.set('options', '-c default_transaction_isolation=serializable')
    const schema = randomSchema()
    const [a, b] = [await open(schema, { connectionString: url.toString() }), await open(schema, { connectionString: url.toString() })]
    const [seqsA, seqsB] = (await appendInRounds([[a, writer('a', 60)], [b, writer('b', 60)]], 'doc', 6)) as [number[], number[]]
    expect([...seqsA, ...seqsB].sort((x, y) => x - y)).toEqual(range(1, 120))
    await Promise.all([a.compact('doc'), b.compact('doc'), a.append('doc', writer('c', 1)[0]!)])
    expect(contentOf((await b.load('doc')).updates)).toHaveLength(121)
  })

  it('compacts with a snapshot and keeps the updates appended meanwhile', async () => {
    const store = await open(randomSchema())
    const updates = writer('x', 100)
    await Promise.all(updates.slice(0, 50).map((u) => store.append('doc', u)))
    const racing = updates.slice(50).map((u) => store.append('doc', u))
    await Promise.all([store.compact('doc', { state: Y.mergeUpdates(updates.slice(0, 50)), seq: 50 }), ...racing])

    expect(await store.info('doc')).toMatchObject({ seq: 100, logUpdates: 50 })
    expect(await store.readSince('doc', 10)).toBeNull() // folded into the base
    expect((await store.readSince('doc', 50))!.map((e) => e.seq)).toEqual(range(51, 100))
    const loaded = await store.load('doc')
    expect(loaded.updates).toHaveLength(51) // the base and the 50 racing updates
    expect(loaded.seq).toBe(100)
    expect(contentOf(loaded.updates)).toEqual(expectedItems('x', 100).sort())
  })

  it("never drops another instance's update that a room's snapshot lacks", async () => {
    const schema = randomSchema()
    const [a, b] = [await open(schema), await open(schema)]
    const [ua, ub] = [writer('a', 2), writer('b', 1)]
    expect((await a.append('doc', ua[0]!)).seq).toBe(1)
    expect((await b.append('doc', ub[0]!)).seq).toBe(2)
    expect((await a.append('doc', ua[1]!)).seq).toBe(3)
    // A's room knows only its own updates, yet its last seq (3) is above B's.
    await a.compact('doc', { state: Y.mergeUpdates(ua), seq: 3 })
    expect(await a.info('doc')).toMatchObject({ seq: 3, logUpdates: 0 })
    const loaded = await b.load('doc')
    expect(loaded.updates).toHaveLength(1)
    expect(contentOf(loaded.updates)).toEqual(['a:0', 'a:1', 'b:0'])
  })

  it('compacts from its own data without a snapshot, and seqs continue', async () => {
    const schema = randomSchema()
    const store = await open(schema)
    const updates = writer('x', 31)
    for (const u of updates.slice(0, 30)) await store.append('doc', u)
    await store.compact('doc')
    expect(await store.info('doc')).toMatchObject({ seq: 30, logUpdates: 0 })
    await store.compact('doc') // nothing left to fold
    await store.compact('never-written')
    expect((await store.append('doc', updates[30]!)).seq).toBe(31)
    const again = await open(schema)
    const loaded = await again.load('doc')
    expect(loaded.updates).toHaveLength(2)
    expect(contentOf(loaded.updates)).toEqual(expectedItems('x', 31).sort())
    // A snapshot from before the last compaction changes nothing.
    await again.compact('doc', { state: new Uint8Array([0, 0]), seq: 20 })
    expect(contentOf((await again.load('doc')).updates)).toEqual(expectedItems('x', 31).sort())
  })

  it('stays intact while two instances compact and a third appends', async () => {
    const schema = randomSchema()
    const [a, b, c] = [await open(schema), await open(schema), await open(schema)]
    const updates = writer('x', 300)
    let done = false
    let lastSeq = 0
    const compactor = async (store: PostgresDocStore, withSnapshot: boolean) => {
      let rounds = 0
      while (!done) {
        // A snapshot seq stands for "how far": the store merges what it has up to there.
        await store.compact('doc', withSnapshot && lastSeq > 0 ? { state: new Uint8Array([0, 0]), seq: lastSeq } : undefined)
        rounds++
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
      return rounds
    }
    const compactions = Promise.all([compactor(a, false), compactor(b, true)])
    const seqs: number[] = []
    for (let i = 0; i < updates.length; i += 6) {
      const results = await Promise.all(updates.slice(i, i + 6).map((u) => c.append('doc', u)))
      for (const r of results) seqs.push(r.seq)
      lastSeq = results.at(-1)!.seq
    }
    done = true
    const rounds = await compactions
    expect(rounds[0] + rounds[1]).toBeGreaterThan(2)
    expect(seqs).toEqual(range(1, 300)) // no seq reused or skipped

    const loaded = await a.load('doc')
    expect(loaded.seq).toBe(300)
    expect(contentOf(loaded.updates)).toEqual(expectedItems('x', 300).sort())
    // The counters agree with the rows.
    const info = (await c.info('doc'))!
    const { rows } = await database.query<{ updates: number; bytes: string; base: string }>(
      `SELECT (SELECT count(*)::int FROM ${schema}.quire_log WHERE name = 'doc') AS updates,
              (SELECT coalesce(sum(octet_length(update)), 0) FROM ${schema}.quire_log WHERE name = 'doc') AS bytes,
              (SELECT octet_length(state) FROM ${schema}.quire_bases WHERE name = 'doc') AS base`,
    )
    expect(info.logUpdates).toBe(rows[0]!.updates)
    expect(info.bytes).toBe(Number(rows[0]!.bytes) + Number(rows[0]!.base ?? 0))
    await b.compact('doc')
    expect(await b.info('doc')).toMatchObject({ seq: 300, logUpdates: 0 })
    expect(contentOf((await c.load('doc')).updates)).toEqual(expectedItems('x', 300).sort())
  })

  it('answers readSince only with a contiguous run up to the last seq', async () => {
    const store = await open(randomSchema())
    const updates = writer('x', 5)
    for (const u of updates) await store.append('doc', u)
    expect((await store.readSince('doc', 0))!.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5])
    expect((await store.readSince('doc', 2))!.map((e) => e.update)).toEqual(updates.slice(2))
    expect(await store.readSince('doc', 5)).toEqual([])
    expect(await store.readSince('never-written', 0)).toEqual([])
    await store.compact('doc', { state: Y.mergeUpdates(updates.slice(0, 3)), seq: 3 })
    expect(await store.readSince('doc', 2)).toBeNull()
    expect((await store.readSince('doc', 3))!.map((e) => e.seq)).toEqual([4, 5])
  })

  it('lists documents in UTF-8 byte order (COLLATE "C"), whatever the database collation', async () => {
    const store = await open(randomSchema())
    const names = ['b', 'a', 'B', 'é', 'e', 'éa', 'z', 'a/b', 'ab', 'a b', '😀', '\uffff', '日本', 'Z', 'é-2', '~']
    const update = writer('x', 1)[0]!
    await Promise.all(names.map((name) => store.append(name, update)))
    const byteOrder = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    // The database's own default order differs (a linguistic collation, where ICU is available).
    const { rows } = await database.query<{ below: boolean }>(`SELECT 'B' < 'a' AS below`)
    if (rows[0]!.below === false) expect(byteOrder.indexOf('B')).toBeLessThan(byteOrder.indexOf('a'))

    expect((await store.list({ limit: 100 })).map((d) => d.name)).toEqual(byteOrder)
    const pages: string[] = []
    let after: string | undefined
    for (;;) {
      const page = await store.list({ limit: 3, after })
      if (page.length === 0) break
      pages.push(...page.map((d) => d.name))
      after = page.at(-1)!.name
    }
    expect(pages).toEqual(byteOrder)
    expect((await store.list({ prefix: 'é', limit: 10 })).map((d) => d.name)).toEqual(['é', 'é-2', 'éa'])
    expect((await store.list({ prefix: 'a', after: 'a b', limit: 10 })).map((d) => d.name)).toEqual(['a/b', 'ab'])
    expect((await store.list({ prefix: 'a', after: 'zzz', limit: 10 })).map((d) => d.name)).toEqual(['a', 'a b', 'a/b', 'ab'])
    expect((await store.list({ prefix: '\uffff', limit: 10 })).map((d) => d.name)).toEqual(['\uffff'])
    expect(await store.list({ prefix: 'q', limit: 10 })).toEqual([])
    expect(await store.list({ limit: 0 })).toEqual([])
    const [first] = await store.list({ prefix: 'é', limit: 1 })
    expect(first).toMatchObject({ name: 'é', seq: 1, logUpdates: 1, bytes: update.byteLength })
  })

  it('computes the end of a prefix range in code point order', () => {
    expect(prefixEnd('')).toBeNull()
    expect(prefixEnd('ab')).toBe('ac')
    expect(prefixEnd('a\u{10ffff}')).toBe('b')
    expect(prefixEnd('\u{10ffff}')).toBeNull()
    expect(prefixEnd('a\ud7ff')).toBe('a\ue000')
    expect(prefixEnd('😀')).toBe('😁')
  })

  it('reports info from metadata and deletes everything of a document at once', async () => {
    const store = await open(randomSchema())
    expect(await store.info('doc')).toBeNull()
    const before = Date.now()
    const updates = writer('x', 3)
    for (const u of updates) await store.append('doc', u)
    const info = (await store.info('doc'))!
    expect(info).toMatchObject({ name: 'doc', seq: 3, logUpdates: 3, bytes: updates.reduce((n, u) => n + u.byteLength, 0) })
    expect(info.createdAt).toBeGreaterThanOrEqual(before - 1000)
    expect(info.updatedAt).toBeGreaterThanOrEqual(info.createdAt)
    await store.compact('doc')
    await store.versions.create('doc', 'v1', Y.mergeUpdates(updates))
    await store.append('doc-2', updates[0]!)

    expect(await store.delete('doc')).toBe(true)
    expect(await store.info('doc')).toBeNull()
    expect(await store.load('doc')).toEqual({ updates: [], seq: 0 })
    expect(await store.versions.list('doc')).toEqual([])
    expect(await store.delete('doc')).toBe(false)
    expect((await store.list({ limit: 10 })).map((d) => d.name)).toEqual(['doc-2'])
    // A new document under the same name starts over.
    expect((await store.append('doc', updates[0]!)).seq).toBe(1)
    expect((await store.versions.create('doc', 'again', updates[0]!))!.id).toBe(1)
  })

  it('deletes the appends made before delete(); those made after wait and start a new document', async () => {
    const store = await open(randomSchema())
    const [x, y, z] = [writer('x', 3), writer('y', 1)[0]!, writer('z', 1)[0]!]
    for (const u of x.slice(0, 2)) await store.append('doc', u)
    const before = store.append('doc', x[2]!)
    const deleted = store.delete('doc')
    const after = [store.append('doc', y), store.append('doc', z)]
    expect(await deleted).toBe(true)
    expect((await before).seq).toBe(3)
    expect((await Promise.all(after)).map((r) => r.seq)).toEqual([1, 2])
    expect(contentOf((await store.load('doc')).updates)).toEqual(['y:0', 'z:0'])
  })

  it('numbers versions 1, 2, 3… per document across instances, and refuses unknown documents', async () => {
    const schema = randomSchema()
    const [a, b] = [await open(schema), await open(schema)]
    expect(await a.versions.create('doc', 'nope', new Uint8Array([0, 0]))).toBeNull()
    const state = Y.mergeUpdates(writer('x', 3))
    for (const u of writer('x', 3)) await a.append('doc', u)
    const created = await Promise.all(range(1, 10).map((i) => (i % 2 ? a : b).versions.create('doc', `v${i}`, state)))
    expect(created.map((v) => v!.id).sort((x, y) => x - y)).toEqual(range(1, 10))
    expect(created[0]).toMatchObject({ label: 'v1', bytes: state.byteLength })
    const listed = await b.versions.list('doc')
    expect(listed.map((v) => v.id)).toEqual(range(1, 10))
    const read = (await a.versions.read('doc', listed[3]!.id))!
    expect(read.info).toEqual(listed[3])
    expect(read.state).toEqual(state)
    expect(await a.versions.read('doc', 11)).toBeNull()
    expect(await a.versions.read('doc', 0)).toBeNull()
    expect(await a.versions.read('doc', 2 ** 60)).toBeNull()
    expect(await a.versions.read('other', 1)).toBeNull()
    expect(await a.versions.list('other')).toEqual([])
  })

  it('creates its schema once: restarts and concurrent starts apply nothing twice', async () => {
    const schema = randomSchema()
    await Promise.all([open(schema), open(schema), open(schema)])
    const applied = await database.query(`SELECT version, applied_at FROM ${schema}.quire_schema_migrations ORDER BY version`)
    expect(applied.rows.map((r) => r.version)).toEqual([1, 2])
    for (const store of stores.splice(0)) await store.close()
    const store = await open(schema)
    await store.append('doc', writer('x', 1)[0]!)
    expect((await database.query(`SELECT version, applied_at FROM ${schema}.quire_schema_migrations ORDER BY version`)).rows).toEqual(applied.rows)
    expect((await store.load('doc')).seq).toBe(1)
  })

  it('starts with a role that may only read and write the tables, once they exist', async () => {
    const schema = randomSchema()
    await (await open(schema)).close()
    const role = `${schema}_rw`
    await database.query(`CREATE ROLE ${role} LOGIN`)
    try {
      await database.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`)
      await database.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${role}`)
      const url = new URL(database.url)
      url.username = role
      const store = await PostgresDocStore.open({ connectionString: url.toString(), schema })
      stores.push(store)
      expect((await store.append('doc', writer('x', 1)[0]!)).seq).toBe(1)
      await store.close()
    } finally {
      await database.query(`DROP OWNED BY ${role}`)
      await database.query(`DROP ROLE ${role}`)
    }
  })

  it('refuses a schema newer than it knows', async () => {
    const schema = randomSchema()
    await (await open(schema)).close()
    await database.query(`INSERT INTO ${schema}.quire_schema_migrations (version, description) VALUES (999, 'from the future')`)
    await expect(open(schema)).rejects.toThrow(/version 999.*upgrade Quire/)
  })

  it('splits a batch too large for one statement and commits it in one transaction', async () => {
    const store = await open(randomSchema(), { maxParametersPerStatement: 7 })
    const updates = writer('x', 12)
    const results = await Promise.all([
      ...updates.map((u) => store.append('a', u)),
      ...updates.slice(0, 5).map((u) => store.append('b', u)),
      store.append('c', updates[0]!),
    ])
    expect(results.map((r) => r.seq)).toEqual([...range(1, 12), ...range(1, 5), 1])
    expect(contentOf((await store.load('a')).updates)).toEqual(expectedItems('x', 12).sort())
    expect(await store.info('b')).toMatchObject({ seq: 5, logUpdates: 5 })

    // One failing statement (PostgreSQL refuses NUL in text) takes the whole batch back.
    const failing = [...updates.map((u) => store.append('d', u)), store.append('e\u0000', updates[0]!)]
    const outcomes = await Promise.allSettled(failing)
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true)
    expect(await store.info('d')).toBeNull()
    expect((await store.append('d', updates[0]!)).seq).toBe(1) // nothing was assigned
  })

  it('is not open while the database is unreachable, fails writes meanwhile, and recovers', async () => {
    const proxy = await tcpProxy()
    try {
      const store = await open(randomSchema(), { connectionString: database.urlVia(proxy.port), connectTimeoutMs: 1000, healthCheckIntervalMs: 100 })
      const updates = writer('x', 3)
      expect((await store.append('doc', updates[0]!)).seq).toBe(1)
      await proxy.cut()
      await waitFor(() => !store.isOpen(), 'the store to notice, without any traffic')
      await expect(store.append('doc', updates[1]!)).rejects.toThrow()
      await expect(store.load('doc')).rejects.toThrow()
      await proxy.restore()
      await waitFor(() => store.isOpen(), 'the store to notice the database is back')
      expect((await store.append('doc', updates[2]!)).seq).toBe(2) // the failed write assigned nothing
    } finally {
      await proxy.close()
    }
  })

  it('stays open when only its connections are dropped (server idle timeouts, proxies)', async () => {
    const store = await open(randomSchema(), { healthCheckIntervalMs: 60_000 })
    await Promise.all(writer('x', 3).map((u, i) => store.append(`doc${i}`, u)))
    await Promise.all([store.info('doc0'), store.info('doc1'), store.info('doc2')]) // a few idle connections
    const { rows } = await database.query<{ killed: boolean }>(
      `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'quire'`,
    )
    expect(rows.length).toBeGreaterThan(0)
    for (let i = 0; i < 20; i++) {
      expect(store.isOpen()).toBe(true)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    expect((await store.append('doc0', writer('y', 1)[0]!)).seq).toBe(2)
  })

  it('rejects writes after close', async () => {
    const store = await open(randomSchema())
    await store.append('doc', writer('x', 1)[0]!)
    expect(store.isOpen()).toBe(true)
    await store.close()
    expect(store.isOpen()).toBe(false)
    await expect(store.append('doc', writer('x', 2)[1]!)).rejects.toThrow()
    await expect(store.load('doc')).rejects.toThrow()
  })
})
