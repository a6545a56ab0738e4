/**
 * Change events on PostgreSQL when one of several instances is SIGKILLed while another keeps
 * running: the killed one's edits whose debounce never fired are reported by the other's scan
 * (origins `recovered`), and a delivery it had claimed is made by the other once the claim's
 * lease has run out — with the same event id. The killed instance is `quire serve` as a child
 * process (needs `npm run build`); the survivor runs in this process with short intervals.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, connect, startServer, synced, tempDir, waitFor, type TestServer } from './helpers.js'
import { killChildren, startChild, type ChildServer } from './child-server.js'
import { randomSchema } from './postgres-helpers.js'
import { SHARED_REDIS_URL, sharedPostgresAndRedis } from './cluster-helpers.js'
import { closeReceivers, fast, startReceiver, type Receiver } from './events-helpers.js'

const shared = sharedPostgresAndRedis()

afterEach(async () => {
  await killChildren()
  await cleanup()
  await closeReceivers()
})

interface Cluster {
  schema: string
  prefix: string
  receiver: Receiver
}

async function newCluster(): Promise<Cluster> {
  const prefix = shared.prefix()
  return { schema: randomSchema(), prefix, receiver: await startReceiver() }
}

/** `quire serve` on the cluster's database and Redis, its deliveries marked `?instance=child`. */
async function child(cluster: Cluster, env: Record<string, string> = {}): Promise<ChildServer> {
  return startChild({
    dataDir: await tempDir(),
    env: {
      DATABASE_URL: shared.database.url,
      DATABASE_SCHEMA: cluster.schema,
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_PREFIX: cluster.prefix,
      INSTANCE_ID: 'child',
      WEBHOOK_URL: `${cluster.receiver.url}?instance=child`,
      WEBHOOK_SECRET: cluster.receiver.secret,
      ...env,
    },
  })
}

/** An instance in this process that scans every 200 ms for changes older than its 1 s debounce. */
function survivor(cluster: Cluster): Promise<TestServer> {
  return startServer({
    databaseUrl: shared.database.url,
    database: { schema: cluster.schema },
    redisUrl: SHARED_REDIS_URL,
    redisPrefix: cluster.prefix,
    instanceId: 'survivor',
    clusterTiming: { heartbeatMs: 200, instanceTimeoutMs: 1000 },
    changeEvents: { webhooks: [{ url: `${cluster.receiver.url}?instance=survivor`, secrets: [cluster.receiver.secret] }], ...fast, scanMs: 200 },
  })
}

const storedSeq = async (cluster: Cluster, name: string) =>
  (await shared.database.query<{ seq: number }>(`SELECT seq::int AS seq FROM ${cluster.schema}.quire_docs WHERE name = $1`, [name])).rows[0]?.seq ?? 0

const from = (url: string) => new URL(url, 'http://x').searchParams.get('instance')

describe('change events when an instance sharing the database is SIGKILLed', () => {
  it('the other instance reports the edits whose debounce never fired, as recovered', async () => {
    const cluster = await newCluster()
    await survivor(cluster)
    const doomed = await child(cluster)
    const editor = connect(doomed.url, 'draft')
    await synced(editor)
    editor.doc.getText('t').insert(0, 'typed just before the crash')
    editor.doc.getText('t').insert(0, '> ')
    await waitFor(async () => (await storedSeq(cluster, 'draft')) === 2, 'the edits to be stored')
    await doomed.kill('SIGKILL') // its 2 s debounce has not fired
    editor.destroy()

    const killedAt = Date.now()
    await waitFor(() => cluster.receiver.events.length > 0, 'the recovered event', 10_000)
    expect(Date.now() - killedAt).toBeLessThan(5000) // the survivor's scan, not a restart, found it
    expect(cluster.receiver.events).toMatchObject([{ type: 'document.created', data: { name: 'draft', fromSeq: 1, toSeq: 2, origins: { recovered: true } } }])
    expect(cluster.receiver.arrivals.map((a) => from(a.url))).toEqual(['survivor'])
  })

  it('a delivery the killed instance had claimed is made by the other once the lease ran out', async () => {
    const cluster = await newCluster()
    const { receiver } = cluster
    receiver.hold = 1 // the first attempt of every event is never answered
    // The child alone creates the event and claims it: a 3 s timeout, so a 6 s lease.
    const doomed = await child(cluster, { WEBHOOK_TIMEOUT_MS: '3000', WEBHOOK_RETRY_SCHEDULE: '60s' })
    const editor = connect(doomed.url, 'claimed')
    await synced(editor)
    editor.doc.getText('t').insert(0, 'x')
    await waitFor(() => receiver.arrivals.length === 1, 'the child to attempt the delivery', 10_000)
    const [held] = receiver.arrivals
    expect(from(held!.url)).toBe('child')
    // The survivor starts while the child's attempt is under way, and finds the record claimed.
    await survivor(cluster)
    expect(Date.now() - held!.at, 'the survivor started before the child gave up on its attempt').toBeLessThan(3000)
    await doomed.kill('SIGKILL')
    editor.destroy()

    await waitFor(() => receiver.events.length === 1, 'the delivery by the survivor', 15_000)
    const delivery = receiver.arrivals.at(-1)!
    expect(delivery).toMatchObject({ id: held!.id })
    expect(from(delivery.url)).toBe('survivor')
    expect(delivery.at - held!.at).toBeGreaterThanOrEqual(5500) // not before the lease ran out
    expect(receiver.arrivals).toHaveLength(2)
    expect(receiver.events).toMatchObject([{ id: held!.id, type: 'document.created', data: { name: 'claimed', fromSeq: 1, toSeq: 1 } }])
  })
})
