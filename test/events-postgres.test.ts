/**
 * Change events on the PostgreSQL store, to a real receiver that verifies every signature: one
 * instance, and several instances sharing one database (in this process, with a Redis prefix of
 * their own) editing one document — every seq reported exactly once, each event delivered by one
 * instance — and starting together on existing documents without announcing them.
 * Crashes (SIGKILL) are in events-postgres-crash.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { cleanup, connect, startServer, synced, waitFor, type TestServer } from './helpers.js'
import { randomSchema } from './postgres-helpers.js'
import { SHARED_REDIS_URL, sharedPostgresAndRedis } from './cluster-helpers.js'
import { closeReceivers, expectCreatedUpdatedDeleted, fast, startReceiver, type Receiver, type Received } from './events-helpers.js'
import { docUrl, postUpdate } from './rest-helpers.js'

const shared = sharedPostgresAndRedis()

afterEach(async () => {
  await cleanup()
  await closeReceivers()
})

/**
 * One instance on `schema`, sending events to `receiver` at `?instance=<id>` (the query is not part
 * of the sink's name, so every instance works through the same outbox records, and the receiver
 * sees which instance delivered each one).
 */
function instance(schema: string, id: string, receiver: Receiver, cluster?: string): Promise<TestServer> {
  return startServer({
    databaseUrl: shared.database.url,
    database: { schema },
    ...(cluster && { redisUrl: SHARED_REDIS_URL, redisPrefix: cluster, instanceId: id, clusterTiming: { heartbeatMs: 200, instanceTimeoutMs: 1000 } }),
    changeEvents: { webhooks: [{ url: `${receiver.url}?instance=${id}`, secrets: [receiver.secret] }], ...fast, scanMs: 200 },
  })
}

function newCluster(): string {
  const prefix = shared.prefix()
  return prefix
}

const storedSeq = async (schema: string, name: string) =>
  (await shared.database.query<{ seq: number }>(`SELECT seq::int AS seq FROM ${schema}.quire_docs WHERE name = $1`, [name])).rows[0]?.seq ?? 0

/** The events of `name` with a range, by fromSeq. */
const rangesOf = (receiver: Receiver, name: string): Received[] =>
  receiver.events.filter((e) => e.data.name === name && e.data.fromSeq !== undefined).sort((x, y) => x.data.fromSeq! - y.data.fromSeq!)

/** The highest seq up to which the received ranges of `name` run from 1 without a gap. */
function coveredUpTo(receiver: Receiver, name: string): number {
  let next = 1
  for (const event of rangesOf(receiver, name)) {
    if (event.data.fromSeq !== next) break
    next = event.data.toSeq! + 1
  }
  return next - 1
}

describe('change events on PostgreSQL', () => {
  it('delivers created, updated and deleted events, signed, retried with the same id until accepted', async () => {
    const receiver = await startReceiver(2)
    await expectCreatedUpdatedDeleted(await instance(randomSchema(), 'solo', receiver), receiver)
  })

  it('reports every seq once across two instances editing one document, each event delivered by one instance', async () => {
    const receiver = await startReceiver()
    const schema = randomSchema()
    const cluster = newCluster()
    const servers = [await instance(schema, 'a', receiver, cluster), await instance(schema, 'b', receiver, cluster)]
    const editors = servers.map((server) => connect(server.url, 'shared'))
    await Promise.all(editors.map((editor) => synced(editor)))
    // Rounds of edits on both instances, each round waiting for its events: each instance reports
    // its own updates, its debounce firing whenever it fires, so ranges cross instances.
    let edits = 0
    for (let round = 0; round < 6; round++) {
      editors.forEach((editor, i) => editor.doc.getText('t').insert(0, `[${i}:${round}]`))
      edits += 2
      if (round % 2 === 1) {
        editors[(round >> 1) % 2]!.doc.getText('t').insert(0, '+') // one instance alone, too
        edits++
      }
      await waitFor(async () => (await storedSeq(schema, 'shared')) >= edits && coveredUpTo(receiver, 'shared') >= edits, `round ${round} to be reported`, 10_000)
    }
    const last = await storedSeq(schema, 'shared')
    expect(last).toBe(15)
    for (const server of servers) await server.close()

    const ranges = rangesOf(receiver, 'shared')
    expect(ranges[0]).toMatchObject({ type: 'document.created', data: { fromSeq: 1 } })
    ranges.slice(1).forEach((event, i) => {
      expect(event.type).toBe('document.updated')
      expect(event.data.fromSeq).toBe(ranges[i]!.data.toSeq! + 1)
    })
    expect(ranges.at(-1)!.data.toSeq).toBe(last)
    expect(receiver.events).toHaveLength(ranges.length)
    // Each event arrived once, from one instance; both instances delivered some.
    expect(receiver.duplicates).toBe(0)
    expect(receiver.arrivals).toHaveLength(ranges.length)
    expect(new Set(receiver.arrivals.map((a) => a.id)).size).toBe(ranges.length)
    expect(new Set(receiver.arrivals.map((a) => new URL(a.url, 'http://x').searchParams.get('instance')))).toEqual(new Set(['a', 'b']))
    expect(receiver.badSignatures).toBe(0)
  })

  it('two instances starting together on existing documents take them as the starting point, once', async () => {
    const schema = randomSchema()
    const before = await startServer({ databaseUrl: shared.database.url, database: { schema } }) // events off
    for (const [i, name] of ['one', 'two', 'three'].entries()) {
      for (let n = 0; n <= i; n++) {
        const doc = new Y.Doc()
        doc.getText('t').insert(0, `${name}${n}`)
        expect((await postUpdate(docUrl(before, name, '/update'), Y.encodeStateAsUpdate(doc))).status).toBe(200)
      }
    }
    await before.close()
    const receiver = await startReceiver()
    const [a, b] = await Promise.all([instance(schema, 'a', receiver), instance(schema, 'b', receiver)])
    const rows = async (table: string) => (await shared.database.query(`SELECT * FROM ${schema}.${table} ORDER BY 1`)).rows
    expect(await rows('quire_event_state')).toHaveLength(1)
    expect(await rows('quire_event_outbox')).toEqual([])
    expect((await rows('quire_event_watermarks')).map((r) => [r.name, Number(r.seq)])).toEqual([['one', 1], ['three', 3], ['two', 2]])

    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'later')
    expect((await postUpdate(docUrl(b!, 'two', '/update'), Y.encodeStateAsUpdate(doc))).status).toBe(200)
    await waitFor(() => receiver.events.length > 0, 'the update of a baselined document', 5000)
    expect(receiver.events[0]).toMatchObject({ type: 'document.updated', data: { name: 'two', fromSeq: 3, toSeq: 3, origins: { rest: true } } })
    await a!.close()
    await b!.close()
    expect(receiver.events).toHaveLength(1)
  })
})
