import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { LevelDocStore } from '../src/index.js'
import { cleanup, connect, delegatingStore, rawClient, startServer, synced, tempDir, waitFor } from './helpers.js'

afterEach(cleanup)

/** A real LevelDB store whose loads are counted, and fail for names in `failing`. */
async function instrumentedStore() {
  const inner = await LevelDocStore.open(await tempDir())
  const stats = { loads: 0, failing: new Set<string>(), failAppends: false }
  const store = delegatingStore(inner, {
    load: async (name) => {
      stats.loads++
      if (stats.failing.has(name)) throw new Error('disk on fire')
      return inner.load(name)
    },
    append: async (name, update) => {
      if (stats.failAppends) throw new Error('disk full')
      return inner.append(name, update)
    },
  })
  return { store, stats, close: () => inner.close() }
}

describe('room lifecycle', () => {
  it('loads a cold document once for 20 simultaneous connects and unloads it when all leave', async () => {
    const { store, stats, close } = await instrumentedStore()
    const server = await startServer({ store })
    const seed = connect(server.url, 'cold')
    await synced(seed)
    seed.doc.getText('t').insert(0, 'stored')
    await waitFor(async () => (await store.info('cold'))?.seq === 1, 'the edit to be stored')
    seed.destroy()
    await waitFor(() => server.app.quire.registry.size === 0, 'the room to unload')
    stats.loads = 0

    const providers = Array.from({ length: 20 }, () => connect(server.url, 'cold'))
    await Promise.all(providers.map((p) => synced(p)))
    expect(stats.loads).toBe(1)
    for (const p of providers) expect(p.doc.getText('t').toString()).toBe('stored')

    for (const p of providers) p.destroy()
    await waitFor(() => server.app.quire.registry.size === 0, 'no room loaded after everyone left')
    await server.close()
    await close()
  })

  it('closes every waiting socket with 1011 when a load fails, and leaves no room behind', async () => {
    const { store, stats, close } = await instrumentedStore()
    stats.failing.add('broken')
    const server = await startServer({ store })
    const clients = await Promise.all([rawClient(server.url, 'broken'), rawClient(server.url, 'broken')])
    for (const client of clients) {
      const { code, reason } = await client.closed
      expect(code).toBe(1011)
      expect(reason).toMatch(/could not load/)
      // Not one byte of a document was sent from a room that failed to load.
      expect(client.frames).toHaveLength(0)
    }
    expect(server.app.quire.registry.size).toBe(0)

    // Other documents are unaffected, and the same document loads once storage recovers.
    const fine = connect(server.url, 'fine')
    await synced(fine)
    stats.failing.clear()
    const recovered = connect(server.url, 'broken')
    await synced(recovered)
    expect(server.app.quire.registry.get('broken')?.peerCount).toBe(1)
    await server.close()
    await close()
  })

  it('closes the document with 1011 when a write fails, relays nothing unstored, and recovers', async () => {
    const { store, stats, close } = await instrumentedStore()
    const server = await startServer({ store })
    const a = connect(server.url, 'fragile')
    const b = connect(server.url, 'fragile')
    await Promise.all([synced(a), synced(b)])
    const closes: number[] = []
    b.on('connection-close', (event: { code: number } | null) => event && closes.push(event.code))

    stats.failAppends = true
    a.doc.getText('t').insert(0, 'unsaved')
    await waitFor(() => closes.includes(1011), 'b to be closed with 1011')
    // The edit was never stored, so it must not have been relayed.
    expect(b.doc.getText('t').toString()).toBe('')

    // Storage recovers; the providers reconnect by themselves and a re-uploads its edit.
    stats.failAppends = false
    await waitFor(() => b.doc.getText('t').toString() === 'unsaved', 'the edit to arrive after recovery', 15_000)
    await waitFor(async () => (await store.info('fragile'))?.seq === 1, 'the edit to be stored')
    await server.close()
    await close()
  })

  it('gives a client that reconnects while the room unloads the saved content', async () => {
    const server = await startServer()
    for (let round = 0; round < 20; round++) {
      const writer = connect(server.url, 'flap')
      await synced(writer)
      writer.doc.getArray<number>('a').push([round])
      await waitFor(() => server.app.quire.registry.get('flap')?.doc.getArray('a').length === round + 1, `round ${round} stored`)
      // Leave and immediately come back: the new join races the unload and its compaction.
      writer.destroy()
      const reader = connect(server.url, 'flap')
      await synced(reader)
      expect(reader.doc.getArray<number>('a').toArray()).toEqual(Array.from({ length: round + 1 }, (_, i) => i))
      reader.destroy()
    }
    await waitFor(() => server.app.quire.registry.size === 0, 'the room to unload at the end')
  })

  // The empty name (the base path itself) is not refused: it speaks the Hocuspocus protocol (hocuspocus.test.ts).
  it('rejects undecodable and oversized document names with 4400', async () => {
    const server = await startServer()
    for (const path of ['%E0%A4%A', 'x'.repeat(1025), 'a%00b']) {
      const client = await rawClient(server.url, path)
      const { code, reason } = await client.closed
      expect(code, path.slice(0, 20)).toBe(4400)
      expect(reason.length).toBeGreaterThan(0)
    }
    expect(server.app.quire.registry.size).toBe(0)
  })

  it('mounts under a base path inside an existing Fastify app', async () => {
    const { default: Fastify } = await import('fastify')
    const { quire } = await import('../src/index.js')
    const app = Fastify()
    app.get('/health', async () => ({ ok: true }))
    await app.register(quire, { dataDir: await tempDir(), basePath: '/collab' })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    try {
      const doc = new Y.Doc()
      const provider = connect(`ws://127.0.0.1:${port}/collab`, 'health', doc)
      await synced(provider)
      expect(app.quire.registry.get('health')).toBeDefined() // "health" is a document, not the route
      const response = await fetch(`http://127.0.0.1:${port}/health`)
      expect(await response.json()).toEqual({ ok: true })
      provider.destroy()
    } finally {
      await app.close()
    }
  })
})
