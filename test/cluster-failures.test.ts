/**
 * The cluster when something dies: an instance SIGKILLed in the middle of a burst of edits (real
 * `quire serve` children), and Redis stopped and started again (a redis-server of the test's own).
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { WebsocketProvider } from 'y-websocket'
import { cleanup, connect, startServer, synced, waitFor, type TestServer } from './helpers.js'
import { killChildren, startChild, type ChildServer } from './child-server.js'
import { randomSchema } from './postgres-helpers.js'
import { SHARED_REDIS_URL, sharedPostgresAndRedis, startPrivateRedis, type PrivateRedis } from './cluster-helpers.js'
import { PostgresDocStore } from '../src/index.js'

const shared = sharedPostgresAndRedis()
const redises: PrivateRedis[] = []

afterEach(async () => {
  await cleanup()
  await killChildren()
  for (const redis of redises.splice(0)) await redis.stop()
})

const textOf = (p: WebsocketProvider | Y.Doc) => ('doc' in p ? p.doc : p).getText('t').toString()
const marksIn = (text: string) => new Set(text.match(/\[[^\]]+\]/g) ?? [])

/** Every `ms`, each writer appends a mark of its own; returns a stop function. */
function keepWriting(writers: WebsocketProvider[], ms: number): () => void {
  let round = 0
  const timer = setInterval(() => {
    round++
    writers.forEach((w, i) => {
      if (w.shouldConnect) w.doc.getText('t').insert(textOf(w).length, `[w${i}r${round}]`)
    })
  }, ms)
  return () => clearInterval(timer)
}

describe('an instance killed during a burst of edits', () => {
  it('loses nothing any client saw, and its clients reconnect elsewhere and converge', async () => {
    const schema = randomSchema()
    const prefix = shared.prefix()
    const env = (i: number) => ({ DATABASE_URL: shared.database.url, DATABASE_SCHEMA: schema, REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix, INSTANCE_ID: `kill-${i}` })
    const instances: ChildServer[] = []
    for (let i = 0; i < 3; i++) instances.push(await startChild({ dataDir: '/nonexistent', env: env(i) }))
    const [victim, b, c] = instances as [ChildServer, ChildServer, ChildServer]
    // Two writers and a reader on each instance.
    const writers = instances.flatMap((s) => [connect(s.url, 'burst'), connect(s.url, 'burst')])
    const readers = instances.map((s) => connect(s.url, 'burst'))
    await Promise.all([...writers, ...readers].map((p) => synced(p)))
    readers[0]!.awareness.setLocalStateField('user', { name: 'on the victim' })
    await waitFor(() => readers[1]!.awareness.getStates().has(readers[0]!.awareness.clientID), 'presence from the victim to reach B')

    const stop = keepWriting(writers, 5)
    await waitFor(() => marksIn(textOf(readers[0]!)).size > 150, 'the burst to be under way')
    // The victim's clients stop, exactly as they are: a browser tab closing with the server.
    const victimClients = [writers[0]!, writers[1]!, readers[0]!]
    for (const p of victimClients) p.shouldConnect = false
    await victim.kill('SIGKILL')
    const killedAt = Date.now()
    const seenOnVictim = marksIn(textOf(readers[0]!))
    await new Promise((resolve) => setTimeout(resolve, 300)) // the survivors keep writing
    stop()

    // Everything the victim's reader saw (relayed to it, so durable) is in the survivors' rooms and store.
    const fresh = connect(b.url, 'burst')
    await synced(fresh)
    const stored = marksIn(textOf(fresh))
    const missing = [...seenOnVictim].filter((m) => !stored.has(m))
    expect(missing, 'updates the victim relayed but the store lost').toEqual([])

    // Presence of the killed instance's client goes well before y-protocols' 30 s timeout (the
    // instance is declared gone after 5 s of silence).
    await waitFor(() => !readers[1]!.awareness.getStates().has(readers[0]!.awareness.clientID), 'the dead instance\'s presence to expire', 15_000)
    expect(Date.now() - killedAt).toBeLessThan(15_000)

    // Its clients come back through another instance (what a load balancer does) and converge.
    const back = victimClients.map((p, i) => connect((i % 2 === 0 ? b : c).url, 'burst', p.doc))
    const everyone = [...writers.slice(2), ...readers.slice(1), ...back, fresh]
    await waitFor(() => everyone.every((p) => textOf(p) === textOf(everyone[0]!)), 'all clients to converge', 15_000)

    // The store agrees with the rooms.
    const store = await PostgresDocStore.open({ connectionString: shared.database.url, schema })
    try {
      const doc = new Y.Doc()
      for (const update of (await store.load('burst')).updates) Y.applyUpdate(doc, update)
      const rooms = textOf(everyone[0]!)
      // Clients may have sent more since; every mark in the store is in the rooms and vice versa once quiet.
      await waitFor(async () => {
        const again = new Y.Doc()
        for (const update of (await store.load('burst')).updates) Y.applyUpdate(again, update)
        return textOf(again) === textOf(everyone[0]!)
      }, 'the store to hold what the rooms hold')
      expect(marksIn(rooms).size).toBeGreaterThan(seenOnVictim.size)
    } finally {
      await store.close()
    }
  })
})

describe('Redis restarted during editing', () => {
  it('keeps each instance serving its own clients, and heals once Redis is back', async () => {
    const redis = await startPrivateRedis()
    redises.push(redis)
    const schema = randomSchema()
    const start = (i: number): Promise<TestServer> =>
      startServer({ databaseUrl: shared.database.url, database: { schema }, redisUrl: redis.url, redisPrefix: 'restart:', instanceId: `r${i}`, clusterTiming: { heartbeatMs: 200, instanceTimeoutMs: 1500 } })
    const a = await start(0)
    const b = await start(1)
    const onA = [connect(a.url, 'heal'), connect(a.url, 'heal')]
    const onB = [connect(b.url, 'heal'), connect(b.url, 'heal')]
    await Promise.all([...onA, ...onB].map((p) => synced(p)))
    onA[0]!.doc.getText('t').insert(0, '[before]')
    await waitFor(() => textOf(onB[1]!) === '[before]', 'the first edit to cross instances')

    await redis.stop()
    // With Redis down, clients of one instance keep editing together.
    onA[0]!.doc.getText('t').insert(textOf(onA[0]!).length, '[a-during]')
    onB[0]!.doc.getText('t').insert(textOf(onB[0]!).length, '[b-during]')
    await waitFor(() => textOf(onA[1]!).includes('[a-during]') && textOf(onB[1]!).includes('[b-during]'), 'clients on the same instance to keep editing')
    expect(textOf(onA[1]!)).not.toContain('[b-during]')

    await redis.start()
    const back = Date.now()
    onA[1]!.doc.getText('t').insert(0, '[a-after]')
    const all = [...onA, ...onB]
    const expected = ['[before]', '[a-during]', '[b-during]', '[a-after]']
    await waitFor(() => all.every((p) => expected.every((m) => textOf(p).includes(m)) && textOf(p) === textOf(all[0]!)), 'every client to converge after Redis is back', 10_000)
    expect(Date.now() - back).toBeLessThan(10_000)
  })
})
