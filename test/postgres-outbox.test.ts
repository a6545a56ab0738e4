/**
 * The PostgreSQL change-event outbox with several stores on one database, as several instances
 * use it: watermarks read and moved atomically (concurrent reports never overlap nor leave a gap),
 * one baseline per database, claims with leases, and the scans' building blocks.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { PostgresDocStore } from '../src/index.js'
import type { ComposeChange, ChangeRange, OutboxRecord } from '../src/storage/event-outbox.js'
import { waitFor } from './helpers.js'
import { createTestDatabase, randomSchema, type TestDatabase } from './postgres-helpers.js'

let database: TestDatabase
const stores: PostgresDocStore[] = []
/** The schema `instances` opened last. */
let schema = ''

beforeAll(async () => {
  database = await createTestDatabase()
})
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => {})
})
afterAll(async () => {
  await database?.drop()
})

/** `count` stores (instances) on one fresh schema. */
async function instances(count: number): Promise<PostgresDocStore[]> {
  schema = randomSchema()
  const opened: PostgresDocStore[] = []
  for (let i = 0; i < count; i++) opened.push(await PostgresDocStore.open({ connectionString: database.url, schema }))
  stores.push(...opened)
  return opened
}

async function appendUpdates(store: PostgresDocStore, name: string, count: number): Promise<void> {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  for (let i = 0; i < count; i++) doc.getText('t').insert(0, 'x')
  doc.destroy()
  for (const update of updates) await store.append(name, update)
}

/** Builds an event whose body is its range, for reading back from the outbox. */
const compose: ComposeChange = (range) => ({ eventId: `evt_${range.name}_${range.fromSeq}`, body: JSON.stringify(range), type: range.created ? 'document.created' : 'document.updated' })
const toSink = () => ['sink']

/** Every record of `sink` waiting, claimed and delivered by `store`, oldest first. */
async function drain(store: PostgresDocStore, sink = 'sink'): Promise<OutboxRecord[]> {
  const records = await store.events.claim(sink, 10_000, 60_000)
  for (const record of records) await store.events.delivered(record)
  return records
}

describe('the PostgreSQL event outbox', () => {
  it('covers every seq exactly once when instances report one document concurrently', async () => {
    const [a, b, c] = await instances(3)
    await appendUpdates(a!, 'doc', 60)
    // Reports up to every seq, out of order, from three instances at once (each reports only the
    // updates it stored, and their debounces fire whenever they fire).
    const reports = Array.from({ length: 60 }, (_, i) => 60 - i).sort((x, y) => ((x * 7919) % 61) - ((y * 7919) % 61))
    const made = await Promise.all(reports.map((toSeq, i) => [a, b, c][i % 3]!.events.reportChanges([{ name: 'doc', toSeq }], compose, toSink)))
    const ranges = (await drain(a!)).map((r) => JSON.parse(r.body) as ChangeRange).sort((x, y) => x.fromSeq - y.fromSeq)
    expect(made.reduce((sum, n) => sum + n, 0)).toBe(ranges.length)
    expect(ranges[0]).toMatchObject({ fromSeq: 1, created: true })
    ranges.slice(1).forEach((range, i) => {
      expect(range.fromSeq).toBe(ranges[i]!.toSeq + 1)
      expect(range.created).toBe(false)
    })
    expect(ranges.at(-1)!.toSeq).toBe(60)
    // Reporting again what is reported creates nothing.
    expect(await b!.events.reportChanges([{ name: 'doc', toSeq: 60 }, { name: 'doc', toSeq: 12 }], compose, toSink)).toBe(0)
  })

  it('creates no event, and leaves no watermark, for a document that is not stored (deleted meanwhile)', async () => {
    const [a] = await instances(1)
    expect(await a!.events.reportChanges([{ name: 'gone', toSeq: 3 }], compose, toSink)).toBe(0)
    expect((await database.query(`SELECT * FROM ${schema}.quire_event_watermarks`)).rows).toEqual([])
  })

  it('baselines once per database, whichever instances start together', async () => {
    const [a, b, c] = await instances(3)
    await appendUpdates(a!, 'one', 2)
    await appendUpdates(a!, 'two', 3)
    const results = await Promise.all([a, b, c].map((store) => store!.events.baseline()))
    expect(results.filter((r) => r !== null)).toEqual([2])
    expect(await b!.events.baseline()).toBeNull()
    expect(await c!.events.unreported(0)).toEqual({ changed: [], orphaned: [] })
    // Past the baseline, changes are document.updated from the next seq.
    await appendUpdates(b!, 'two', 1)
    expect(await c!.events.unreported(0)).toEqual({ changed: [{ name: 'two', seq: 4 }], orphaned: [] })
    expect(await c!.events.unreported(60_000)).toEqual({ changed: [], orphaned: [] }) // too recent for a scan
    await c!.events.reportChanges([{ name: 'two', toSeq: 4 }], compose, toSink)
    expect((await drain(a!)).map((r) => JSON.parse(r.body) as ChangeRange)).toEqual([{ name: 'two', created: false, fromSeq: 4, toSeq: 4 }])
  })

  it('lets one instance at a time deliver a record, and another once the lease ran out', async () => {
    const [a, b] = await instances(2)
    await a!.events.enqueue([{ eventId: 'evt_1', body: '{}', type: 'document.deleted' }], toSink)
    const [claimed] = await a!.events.claim('sink', 10, 400)
    expect(claimed).toMatchObject({ eventId: 'evt_1', attempts: 0 })
    expect(await b!.events.claim('sink', 10, 400)).toEqual([])
    const start = Date.now()
    let stolen: OutboxRecord[] = []
    await waitFor(async () => (stolen = await b!.events.claim('sink', 10, 60_000)).length > 0, 'the lease to run out', 5000)
    expect(Date.now() - start).toBeGreaterThanOrEqual(250)
    // The first claimer's late failure does not touch the record it lost, nor does its burial.
    await a!.events.retryLater({ ...claimed!, attempts: 1, lastError: 'late', dueAt: Date.now() + 60_000 })
    await a!.events.bury({ ...claimed!, attempts: 1 })
    expect(await a!.events.deadLetters(undefined, 10)).toEqual([])
    await b!.events.retryLater({ ...stolen[0]!, attempts: 1, lastError: 'HTTP 500', dueAt: Date.now() })
    const [again] = await a!.events.claim('sink', 10, 60_000)
    expect(again).toMatchObject({ eventId: 'evt_1', attempts: 1, lastError: 'HTTP 500' })
    // Given back unattempted: any instance takes it at once.
    await a!.events.release([again!])
    const [taken] = await b!.events.claim('sink', 10, 60_000)
    expect(taken?.eventId).toBe('evt_1')
    await b!.events.bury({ ...taken!, attempts: 2, lastError: 'HTTP 410' })
    const [dead] = await a!.events.deadLetters('sink', 10)
    expect(dead).toMatchObject({ eventId: 'evt_1', attempts: 2, lastError: 'HTTP 410', key: taken!.key })
    expect(await a!.events.depth()).toEqual({ records: 0, oldestCreatedAt: null })
    expect(await a!.events.resurrect('sink', dead!.key)).toBe(true)
    expect(await a!.events.resurrect('sink', dead!.key)).toBe(false)
    expect((await a!.events.depth()).records).toBe(1)
    expect(await drain(b!)).toMatchObject([{ eventId: 'evt_1', attempts: 0, key: dead!.key }])
  })

  it('reports an orphaned watermark once, and only while its document is not stored', async () => {
    const [a, b] = await instances(2)
    await appendUpdates(a!, 'doc', 2)
    await a!.events.reportChanges([{ name: 'doc', toSeq: 2 }], compose, toSink)
    const deletion = { eventId: 'evt_del', body: '{}', type: 'document.deleted', watermark: { name: 'doc', seq: null }, ifOrphaned: true }
    await a!.events.enqueue([deletion], toSink)
    expect(await drain(a!)).toHaveLength(1) // the document is still there: only its created event
    await a!.delete('doc')
    expect(await b!.events.unreported(0)).toEqual({ changed: [], orphaned: ['doc'] })
    await Promise.all([a!.events.enqueue([deletion], toSink), b!.events.enqueue([{ ...deletion, eventId: 'evt_del2' }], toSink)])
    expect(await drain(a!)).toHaveLength(1)
    expect(await b!.events.unreported(0)).toEqual({ changed: [], orphaned: [] })
  })

  it('takes turns scanning: one instance per half interval', async () => {
    const [a, b, c] = await instances(3)
    await a!.events.baseline()
    // Stamped by the baseline: nobody's turn until half an interval has passed.
    expect(await a!.events.scanTurn(60_000)).toBe(false)
    await database.query(`UPDATE ${schema}.quire_event_state SET scanned_at = now() - interval '1 minute'`)
    const turns = await Promise.all([a, b, c].map((store) => store!.events.scanTurn(60_000)))
    expect(turns.filter(Boolean)).toEqual([true])
    expect(await b!.events.scanTurn(60_000)).toBe(false)
  })
})
