/**
 * Items 5–7: what waits in memory is bounded, and the bounds are coherent with each other.
 * - 5: the slow-consumer limit bounds what *waits* unsent, not one frame: a document the quota
 *   accepts (here 26 MiB, over the 16 MiB send bound) can always be joined, and a large update is
 *   relayed to everyone, its sender included.
 * - 6: a burst of SyncStep1 frames gets one answer, not one full-document reply each in the outbox.
 * - 7: frames that arrive before a connection is authorised are bounded in count and bytes (the
 *   first frame always fits), and close the connection with 1008 past the bound.
 */
import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, onTestFinished } from 'vitest'
import * as Y from 'yjs'
import { exportJWK, generateKeyPair } from 'jose'
import { cleanup, connect, delegatingStore, rawClient, startServer, synced, tempDir, waitFor } from '../helpers.js'
import { LevelDocStore } from '../../src/index.js'
import { framesOf, sign, closeClients } from '../auth-helpers.js'
import { metric } from '../metrics-helpers.js'
import { syncFrame } from './frames.js'

const servers: Server[] = []
afterEach(async () => {
  closeClients()
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
  await cleanup()
})

const MiB = 1024 * 1024

describe('documents larger than the send bound', () => {
  it('a 26 MiB document syncs whole to a fresh provider, and a 15 MiB update reaches every peer', async () => {
    const server = await startServer() // defaults: 16 MiB frames and send bound, 64 MiB quota
    const writer = connect(server.url, 'big')
    const watcher = connect(server.url, 'big')
    await Promise.all([synced(writer), synced(watcher)])
    const text = writer.doc.getText('t')
    text.insert(0, 'a'.repeat(11 * MiB))
    await waitFor(() => watcher.doc.getText('t').length === 11 * MiB, 'the first 11 MiB relayed', 30_000)
    text.insert(0, 'b'.repeat(15 * MiB)) // one frame just under the frame limit
    await waitFor(() => watcher.doc.getText('t').length === 26 * MiB, 'the 15 MiB update relayed', 30_000)
    expect(writer.wsconnected && watcher.wsconnected).toBe(true)

    const fresh = connect(server.url, 'big')
    await synced(fresh, 30_000)
    expect(fresh.doc.getText('t').length).toBe(26 * MiB)
    expect(await metric(server, 'quire_limit_rejections_total{limit="slow-consumer"}')).toBe(0)
  }, 60_000)
})

describe('sync answers waiting for durability', () => {
  /** A real LevelDB store whose appends wait while `held` is set: writes stay in flight on demand. */
  async function holdableStore() {
    const inner = await LevelDocStore.open(await tempDir())
    let release: () => void = () => {}
    let gate: Promise<void> | null = null
    const store = delegatingStore(inner, {
      append: async (name, update) => {
        if (gate) await gate
        return inner.append(name, update)
      },
    })
    const hold = () => {
      gate = new Promise<void>((resolve) => (release = resolve))
    }
    const resume = () => {
      gate = null
      release()
    }
    return { store, hold, resume, close: () => inner.close() }
  }

  it('a burst of SyncStep1 frames behind an update in flight gets one answer, not one full copy each', async () => {
    const { store, hold, resume, close } = await holdableStore()
    const server = await startServer({ store })
    const seed = connect(server.url, 'outbox')
    await synced(seed)
    seed.doc.getText('t').insert(0, 'x'.repeat(200_000))
    await waitFor(async () => (await metric(server, 'quire_messages_received_total{type="update"}')) >= 1, 'the seed')

    const client = await rawClient(server.url, 'outbox')
    await waitFor(() => client.frames.length > 0, "the server's SyncStep1")
    hold() // the next append stays in flight until resume()
    onTestFinished(resume) // a failure must not leave the write (and the server's close) hanging
    const doc = new Y.Doc()
    doc.getText('u').insert(0, 'hi')
    client.send(syncFrame(2, Y.encodeStateAsUpdate(doc)))
    for (let i = 0; i < 1500; i++) client.send(syncFrame(0, Y.encodeStateVector(new Y.Doc())))
    await waitFor(async () => (await metric(server, 'quire_messages_received_total{type="sync-step1"}')) >= 1500 + 1, 'every SyncStep1 read (and the seed\'s)')
    expect(client.frames.filter((f) => f[0] === 0 && f[1] === 1)).toEqual([]) // nothing leaves before the write
    resume()
    const echo = (f: Uint8Array) => f[0] === 0 && f[1] === 2
    await waitFor(() => client.frames.some(echo), 'the echo of the update')
    await waitFor(() => client.frames.some((f) => f[0] === 0 && f[1] === 1), 'the answer')
    // The marker's echo comes after anything the room still had queued for this client.
    const marker = new Y.Doc()
    marker.getText('m').insert(0, 'end')
    client.send(syncFrame(2, Y.encodeStateAsUpdate(marker)))
    await waitFor(() => client.frames.filter(echo).length === 2, 'the echo of the marker')
    expect(client.frames.filter((f) => f[0] === 0 && f[1] === 1)).toHaveLength(1) // 1500 full copies before
    expect(client.ws.readyState).toBe(client.ws.OPEN)
    await server.close()
    await close()
  })
})

describe('frames queued before a connection is admitted', () => {
  /** A JWKS endpoint that answers only when `release` is called: admission hangs until then. */
  async function slowKeys() {
    const { publicKey, privateKey } = await generateKeyPair('RS256')
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
    const waiting: Array<() => void> = []
    let requested!: () => void
    const requestedOnce = new Promise<void>((resolve) => (requested = resolve))
    const jwks = createHttpServer((_req, res) => {
      requested()
      waiting.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })))
    })
    servers.push(jwks)
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`
    const token = await sign({ key: privateKey, alg: 'RS256', kid: 'k1', claims: { docs: { '*': 'write' } } })
    return { jwksUrl, token, requestedOnce, release: () => waiting.splice(0).forEach((answer) => answer()) }
  }

  const update = (bytes: number) => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'q'.repeat(bytes))
    return syncFrame(2, Y.encodeStateAsUpdate(doc))
  }

  it('closes with 1008 past --max-queued-messages', async () => {
    const keys = await slowKeys()
    const server = await startServer({ auth: { jwksUrl: keys.jwksUrl }, limits: { maxQueuedMessages: 100 } })
    const client = framesOf(`${server.url}/queued?token=${keys.token}`)
    await client.opened
    await keys.requestedOnce
    const ping = syncFrame(0, Y.encodeStateVector(new Y.Doc()))
    for (let i = 0; i < 101; i++) client.ws.send(ping)
    const closed = await client.closed
    keys.release()
    expect(closed.code).toBe(1008)
    expect(closed.reason).toMatch(/before the document was ready/)
    expect(await metric(server, 'quire_limit_rejections_total{limit="queue-before-join"}')).toBe(1)
  })

  it('closes with 1008 past --max-queued-bytes, but a first frame larger than the bound still fits', async () => {
    const keys = await slowKeys()
    const server = await startServer({ auth: { jwksUrl: keys.jwksUrl }, limits: { maxQueuedBytes: 1 * MiB } })
    const big = framesOf(`${server.url}/queued?token=${keys.token}`)
    await big.opened
    await keys.requestedOnce
    big.ws.send(update(3 * MiB)) // one frame over the bound: accepted
    const small = framesOf(`${server.url}/queued?token=${keys.token}`)
    await small.opened
    small.ws.send(update(700 * 1024))
    small.ws.send(update(700 * 1024)) // the second one passes 1 MiB behind the first
    const closed = await small.closed
    expect(closed.code).toBe(1008)
    keys.release()
    await waitFor(() => big.frames.some((f) => f[0] === 0 && f[1] === 2), 'the big frame applied and echoed', 20_000)
    expect(big.ws.readyState).toBe(big.ws.OPEN)
  })
})
