/**
 * Several Quire instances on one PostgreSQL database and one Redis, in this process: clients of
 * one document spread over them edit together (updates, awareness, REST writes, deletes) as if
 * on one server. Crashes and Redis restarts are in cluster-failures.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { WebsocketProvider } from 'y-websocket'
import { cleanup, connect, startServer, synced, waitFor, type TestServer } from './helpers.js'
import { randomSchema } from './postgres-helpers.js'
import { SHARED_REDIS_URL, sharedPostgresAndRedis } from './cluster-helpers.js'
import { docUrl, postUpdate } from './rest-helpers.js'
import { spawnCli } from './child-server.js'
import { closeHocuspocusClients, hpProvider, hpSocket, hpSynced } from './hocuspocus-helpers.js'
import { closeSse, sseProvider, sseSynced } from './sse-helpers.js'

const shared = sharedPostgresAndRedis()

afterEach(async () => {
  closeSse()
  await cleanup()
})

/** `count` instances sharing a fresh schema and Redis prefix. */
async function startCluster(count: number, extra: Partial<Parameters<typeof startServer>[0]> = {}): Promise<TestServer[]> {
  const schema = randomSchema()
  const prefix = shared.prefix()
  const servers: TestServer[] = []
  for (let i = 0; i < count; i++) {
    servers.push(
      await startServer({
        databaseUrl: shared.database.url,
        database: { schema },
        redisUrl: SHARED_REDIS_URL,
        redisPrefix: prefix,
        instanceId: `test-${i}`,
        clusterTiming: { heartbeatMs: 200, instanceTimeoutMs: 1000 },
        ...extra,
      }),
    )
  }
  return servers
}

const textOf = (p: WebsocketProvider) => p.doc.getText('t').toString()

async function converged(providers: WebsocketProvider[], expected: (text: string) => boolean, what: string): Promise<void> {
  await waitFor(() => {
    const first = textOf(providers[0]!)
    return expected(first) && providers.every((p) => textOf(p) === first)
  }, what, 15_000)
}

describe('a cluster of instances', () => {
  it('carries Hocuspocus clients: edits, and stateless messages, cross instances', async () => {
    const [a, b] = await startCluster(2)
    const onA = hpProvider(hpSocket(a!.url), 'hp-shared')
    const onB = hpProvider(hpSocket(b!.url), 'hp-shared')
    await Promise.all([hpSynced(onA), hpSynced(onB)])
    const got: string[] = []
    onB.on('stateless', ({ payload }: { payload: string }) => got.push(payload))
    onA.document.getText('t').insert(0, 'from A')
    await waitFor(() => onB.document.getText('t').toString() === 'from A', 'the edit crossed to B')
    onA.sendStateless('{"comment":"added"}')
    await waitFor(() => got.length === 1, 'the stateless message crossed to B')
    expect(got).toEqual(['{"comment":"added"}'])
    closeHocuspocusClients()
  })

  it('converges with clients of one document spread over three instances and five writers', async () => {
    const servers = await startCluster(3)
    const providers = Array.from({ length: 6 }, (_, i) => connect(servers[i % 3]!.url, 'shared'))
    await Promise.all(providers.map((p) => synced(p)))
    const writers = providers.slice(0, 5)
    for (let round = 0; round < 20; round++) {
      writers.forEach((p, w) => {
        const text = p.doc.getText('t')
        text.insert(round % 2 === 0 ? 0 : text.length, `[w${w}r${round}]`)
      })
      if (round % 5 === 4) await new Promise((resolve) => setImmediate(resolve))
    }
    const marks = writers.flatMap((_, w) => Array.from({ length: 20 }, (_, r) => `[w${w}r${r}]`))
    await converged(providers, (text) => marks.every((m) => text.includes(m)), 'all six clients to hold all 100 edits')
    // What every instance stored is what the clients hold: a fresh client on each sees the same.
    for (const server of servers) {
      const fresh = connect(server.url, 'shared')
      await synced(fresh)
      await waitFor(() => textOf(fresh) === textOf(providers[0]!), 'a fresh client to see everything')
    }
  })

  it('passes awareness between instances, and removes it when the client leaves', async () => {
    const [a, b, c] = await startCluster(3)
    const onA = connect(a!.url, 'presence')
    const onB = connect(b!.url, 'presence')
    const onC = connect(c!.url, 'presence')
    await Promise.all([onA, onB, onC].map((p) => synced(p)))
    onA.awareness.setLocalStateField('user', { name: 'ada' })
    const seesAda = (p: WebsocketProvider) => (p.awareness.getStates().get(onA.awareness.clientID) as { user?: { name: string } } | undefined)?.user?.name === 'ada'
    await waitFor(() => seesAda(onB) && seesAda(onC), 'clients on B and C to see ada')
    const late = connect(b!.url, 'presence')
    await synced(late)
    await waitFor(() => seesAda(late), 'a late client to see ada')
    onA.destroy()
    await waitFor(() => !onB.awareness.getStates().has(onA.awareness.clientID) && !onC.awareness.getStates().has(onA.awareness.clientID), 'ada to disappear on B and C')
  })

  it('an event stream on one instance shows the presence its client POSTs to another', async () => {
    const [a, b] = await startCluster(2)
    // The stream goes to A; every POST (updates and awareness) to B, as a balancer without stickiness may send them.
    const toB = (input: string | URL | Request, init?: RequestInit) =>
      fetch(init?.method === 'POST' ? String(input).replace(`:${a!.port}/`, `:${b!.port}/`) : input, init)
    const sse = sseProvider(a!, 'sse-presence', new Y.Doc(), { fetch: toB, awarenessThrottleMs: 0 })
    const refused: unknown[] = []
    sse.on('connection-error', (error: unknown) => refused.push(error))
    const onB = connect(b!.url, 'sse-presence')
    const onA = connect(a!.url, 'sse-presence')
    await Promise.all([sseSynced(sse), synced(onB), synced(onA)])
    const nameSeenBy = (p: WebsocketProvider) => (p.awareness.getStates().get(sse.doc.clientID) as { user?: { name: string } } | undefined)?.user?.name
    sse.awareness.setLocalStateField('user', { name: 'hedy' })
    await waitFor(() => nameSeenBy(onA) === 'hedy' && nameSeenBy(onB) === 'hedy', 'clients on A and B to see the SSE client')
    // A change, and the edit that went through B, both arrive.
    sse.awareness.setLocalStateField('user', { name: 'hedy lamarr' })
    sse.doc.getText('t').insert(0, 'via B')
    await waitFor(() => nameSeenBy(onA) === 'hedy lamarr' && textOf(onA) === 'via B', 'the new name and the edit on A')
    expect(refused).toEqual([])
    // A stream open nowhere: accepted (only its holder could tell); a body no stream could accept never reaches the bus.
    const awarenessUrl = (server: TestServer) => `http://127.0.0.1:${server.port}/api/docs/sse-presence/awareness?stream=gone`
    const post = (body: Uint8Array) => fetch(awarenessUrl(b!), { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: body as Uint8Array<ArrayBuffer> })
    expect((await post(Uint8Array.of(0))).status).toBe(202)
    expect((await post(new Uint8Array(8 * (32 * 1024 + 32) + 1))).status).toBe(413)
    // The stream still owns its id: closing it removes the state everywhere.
    sse.destroy()
    await waitFor(() => nameSeenBy(onA) === undefined && nameSeenBy(onB) === undefined, 'the SSE client to leave A and B')
  })

  it('a new instance that opens the document learns the awareness of the others', async () => {
    const [a, b] = await startCluster(2)
    const onA = connect(a!.url, 'learn')
    await synced(onA)
    onA.awareness.setLocalStateField('user', { name: 'grace' })
    // B has never loaded the document: it asks A when it does.
    const onB = connect(b!.url, 'learn')
    await synced(onB)
    await waitFor(() => onB.awareness.getStates().has(onA.awareness.clientID), 'B to learn grace from A')
  })

  it('relays a REST write on one instance to WebSocket clients of another', async () => {
    const [a, , c] = await startCluster(3)
    const onA = connect(a!.url, 'rest')
    await synced(onA)
    const source = new Y.Doc()
    source.getText('t').insert(0, 'from REST on C')
    const response = await postUpdate(docUrl(c!, 'rest', '/update'), Y.encodeStateAsUpdate(source))
    expect(response.status).toBe(200)
    await waitFor(() => textOf(onA) === 'from REST on C', 'the REST write to reach the client on A')
  })

  it('sends a large update as its seq only, and the other instance reads it from the store', async () => {
    const [a, b] = await startCluster(2)
    const onB = connect(b!.url, 'large')
    await synced(onB)
    const source = new Y.Doc()
    const big = 'x'.repeat(600 * 1024)
    source.getText('t').insert(0, big)
    expect((await postUpdate(docUrl(a!, 'large', '/update'), Y.encodeStateAsUpdate(source))).status).toBe(200)
    await waitFor(() => textOf(onB).length === big.length, 'the large update to reach the client on B')
    const metrics = await (await fetch(`http://127.0.0.1:${a!.port}/metrics`)).text()
    expect(metrics).toMatch(/^quire_cluster_published_total\{type="stored",result="ok"\} 1$/m)
  })

  it('a delete through one instance closes the document on the others with 4404', async () => {
    const [a, b] = await startCluster(2)
    const onA = connect(a!.url, 'doomed')
    await synced(onA)
    onA.doc.getText('t').insert(0, 'soon gone')
    const onB = connect(b!.url, 'doomed')
    await synced(onB)
    await waitFor(() => textOf(onB) === 'soon gone', 'B to have the text')
    const closes: number[] = []
    onA.on('connection-close', (event: { code: number } | null) => event && closes.push(event.code))
    onA.shouldConnect = false
    const response = await fetch(docUrl(b!, 'doomed'), { method: 'DELETE' })
    expect(response.status).toBe(204)
    await waitFor(() => closes.includes(4404), 'the client on A to be closed with 4404')
    // A's room is gone without saving: the document stays deleted.
    const check = await fetch(docUrl(a!, 'doomed'))
    expect(check.status).toBe(404)
  })

  it('an instance shutting down removes its clients\' awareness from the others at once', async () => {
    const [a, b] = await startCluster(2)
    const onA = connect(a!.url, 'bye')
    const onB = connect(b!.url, 'bye')
    await Promise.all([synced(onA), synced(onB)])
    onA.shouldConnect = false // it must not reconnect elsewhere in this test
    onA.awareness.setLocalStateField('user', { name: 'linus' })
    await waitFor(() => onB.awareness.getStates().has(onA.awareness.clientID), 'B to see linus')
    const started = Date.now()
    await a!.close()
    await waitFor(() => !onB.awareness.getStates().has(onA.awareness.clientID), 'linus to vanish on B', 3000)
    expect(Date.now() - started).toBeLessThan(3000)
  })
})

describe('compaction in a cluster', () => {
  it('keeps every edit while all three instances compact the document they all append to', async () => {
    // Each instance compacts after every few of its own appends, so compactions race appends from the others.
    const servers = await startCluster(3, { compactAfterUpdates: 5 })
    const writers = servers.map((s) => connect(s.url, 'compacted'))
    await Promise.all(writers.map((p) => synced(p)))
    for (let round = 0; round < 40; round++) {
      writers.forEach((p, w) => p.doc.getText('t').insert(0, `[w${w}r${round}]`))
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const marks = writers.flatMap((_, w) => Array.from({ length: 40 }, (_, r) => `[w${w}r${r}]`))
    await converged(writers, (text) => marks.every((m) => text.includes(m)), 'all edits on every instance')
    for (const server of servers) {
      const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()
      expect(Number(/^quire_compactions_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0)
    }
    for (const p of writers) p.destroy()
    // The rooms unload (a last compaction each); what a new client then loads is the store's.
    await waitFor(() => servers.every((s) => s.app.quire.registry.size === 0), 'the rooms to unload')
    const fresh = connect(servers[1]!.url, 'compacted')
    await synced(fresh)
    const text = textOf(fresh)
    expect(marks.filter((m) => !text.includes(m))).toEqual([])
    expect(text).toHaveLength(marks.join('').length) // and nothing twice
  })
})

describe('the REST rate limit in a cluster', () => {
  it('counts one client\'s requests on every instance together', async () => {
    const [a, b] = await startCluster(2, { restRateLimit: { max: 5, windowMs: 60_000 } })
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await fetch(docUrl(i % 2 === 0 ? a! : b!, 'limited'))).status)
    // 404: the document does not exist, but the request counted; the sixth, on either instance, is refused.
    expect(statuses).toEqual([404, 404, 404, 404, 404, 429])
  })
})

describe('joining a cluster at start-up', () => {
  it('refuses --redis-url without a shared store, and an unreachable Redis, each in one line', async () => {
    const alone = spawnCli(['--port', '0', '--redis-url', SHARED_REDIS_URL])
    expect((await alone.exited).code).toBe(2)
    expect(alone.stderr).toMatch(/^quire: --redis-url: a cluster needs --database-url \(DATABASE_URL\)[^\n]*\n$/)
    const unreachable = spawnCli(['--port', '0'], { DATABASE_URL: shared.database.url, DATABASE_SCHEMA: randomSchema(), REDIS_URL: 'redis://:hunter2@127.0.0.1:1' })
    expect((await unreachable.exited).code).toBe(1)
    expect(unreachable.stderr).toMatch(/^quire: cannot start: cannot reach Redis at redis:\/\/[^\n]*127\.0\.0\.1:1[^\n]*ECONNREFUSED[^\n]*\n$/)
    expect(unreachable.stderr + unreachable.stdout).not.toContain('hunter2')
  })
})
