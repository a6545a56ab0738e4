/**
 * Quire on PostgreSQL end to end: `createServer({ databaseUrl })` with real y-websocket providers,
 * restarts on the same database, two servers sharing it, and a database that goes away.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { WebsocketProvider } from 'y-websocket'
import { PostgresDocStore } from '../src/index.js'
import { cleanup, connect, startServer, synced, waitFor, type TestServer } from './helpers.js'
import { atFirstSync } from './child-server.js'
import { createTestDatabase, randomSchema, tcpProxy, type TcpProxy, type TestDatabase } from './postgres-helpers.js'

let database: TestDatabase
const proxies: TcpProxy[] = []

beforeAll(async () => {
  database = await createTestDatabase()
})
afterEach(async () => {
  // Servers first (they flush into the database), then the proxies they may talk through.
  await cleanup()
  for (const proxy of proxies.splice(0)) await proxy.close()
})
afterAll(async () => {
  await database?.drop()
})

interface Content {
  text: string
  map: Record<string, unknown>
}

const contentOf = (doc: Y.Doc): Content => ({ text: doc.getText('t').toString(), map: doc.getMap('m').toJSON() })

function merged(...docs: Y.Doc[]): Content {
  const all = new Y.Doc()
  for (const doc of docs) Y.applyUpdate(all, Y.encodeStateAsUpdate(doc))
  return contentOf(all)
}

/** Several transactions on text and map, with deletes and overwrites. */
function edit(doc: Y.Doc, tag: string): void {
  const text = doc.getText('t')
  const map = doc.getMap('m')
  text.insert(text.length, `${tag}:hello`)
  text.insert(text.length, ' world;')
  text.delete(text.length - 7, 1)
  map.set(`${tag}-title`, 'draft')
  map.set(`${tag}-title`, 'final')
  map.set(`${tag}-gone`, true)
  map.delete(`${tag}-gone`)
  map.set(`${tag}-list`, ['a', { b: 1 }])
}

async function freshContent(url: string, room: string): Promise<Content> {
  const provider = connect(url, room)
  try {
    return await atFirstSync(provider, contentOf)
  } finally {
    provider.destroy()
  }
}

function closeCode(provider: WebsocketProvider): Promise<number> {
  return new Promise((resolve) => {
    provider.once('connection-close', (event) => resolve((event as { code?: number } | null)?.code ?? -1))
  })
}

const serverOn = (schema: string, options: { compactAfterUpdates?: number; url?: string } = {}) =>
  startServer({
    databaseUrl: options.url ?? database.url,
    database: { schema, healthCheckIntervalMs: 100, connectTimeoutMs: 1000 },
    compactAfterUpdates: options.compactAfterUpdates,
  })

/** Resolves once the server's copy of `room` holds `doc`'s text (its edits were applied and stored). */
/** The server's room holds `doc`'s text, and what it applied is committed (another server may read it next). */
async function serverHas(server: TestServer, room: string, doc: Y.Doc): Promise<void> {
  await waitFor(() => server.app.quire.registry.get(room)?.doc.getText('t').toString() === doc.getText('t').toString(), 'the server to apply the edits')
  await server.app.quire.registry.get(room)?.durable()
}

describe('Quire on PostgreSQL', () => {
  it('keeps every round of edits across restarts on the same database', async () => {
    const schema = randomSchema()
    let server = await serverOn(schema, { compactAfterUpdates: 4 })
    expect(server.app.quire.store).toBeInstanceOf(PostgresDocStore)
    const writers: Y.Doc[] = []
    for (const round of ['r1', 'r2', 'r3']) {
      const writer = connect(server.url, 'rounds')
      await synced(writer)
      edit(writer.doc, round)
      writers.push(writer.doc)
      if (round === 'r2') {
        // Leave first: the room unloads and compacts on its own.
        await serverHas(server, 'rounds', writer.doc)
        writer.destroy()
        await waitFor(() => server.app.quire.registry.size === 0, 'the room to unload')
      }
      const closed = round === 'r2' ? null : closeCode(writer)
      await server.close()
      if (closed) expect(await closed).toBe(1001)
      writer.destroy()

      server = await serverOn(schema, { compactAfterUpdates: 4 })
      expect(await freshContent(server.url, 'rounds')).toEqual(merged(...writers))
    }
    const info = (await server.app.quire.store.info('rounds'))!
    expect(info.seq).toBeGreaterThan(10)
  })

  it('keeps the edits of two servers sharing one document, whichever compacts', async () => {
    const schema = randomSchema()
    const [a, b] = [await serverOn(schema, { compactAfterUpdates: 3 }), await serverOn(schema, { compactAfterUpdates: 3 })]
    const [onA, onB] = [connect(a.url, 'shared'), connect(b.url, 'shared')]
    await Promise.all([synced(onA), synced(onB)])
    // Without a bus the two rooms never see each other's edits: each compacts (in the background,
    // then on unload) with a state that lacks the other's updates.
    for (const round of ['1', '2', '3']) {
      edit(onA.doc, `a${round}`)
      edit(onB.doc, `b${round}`)
      await Promise.all([serverHas(a, 'shared', onA.doc), serverHas(b, 'shared', onB.doc)])
    }
    const expected = merged(onA.doc, onB.doc)
    onA.destroy()
    onB.destroy()
    await waitFor(() => a.app.quire.registry.size === 0 && b.app.quire.registry.size === 0, 'both rooms to unload')

    expect(await freshContent(a.url, 'shared')).toEqual(expected)
    expect(await freshContent(b.url, 'shared')).toEqual(expected)
    const info = (await a.app.quire.store.info('shared'))!
    expect(info.logUpdates).toBeLessThan(info.seq) // compactions did fold the log
    const log = await a.app.quire.store.readSince('shared', info.seq - info.logUpdates)
    expect(log?.map((e) => e.seq)).toEqual(Array.from({ length: info.logUpdates }, (_, i) => info.seq - info.logUpdates + 1 + i))
  })

  it('answers /readyz 503 while the database is unreachable, closes clients of a failed write with 1011, and recovers', async () => {
    const proxy = await tcpProxy()
    proxies.push(proxy)
    const server = await serverOn(randomSchema(), { url: database.urlVia(proxy.port) })
    const ready = async () => (await server.app.inject({ url: '/readyz' })).statusCode
    expect(await ready()).toBe(200)

    const editor = connect(server.url, 'doc')
    await synced(editor)
    edit(editor.doc, 'before')
    await serverHas(server, 'doc', editor.doc)

    await proxy.cut()
    await waitFor(async () => (await ready()) === 503, '/readyz to turn 503')
    const body = (await server.app.inject({ url: '/readyz' })).json<{ storage: string }>()
    expect(body.storage).toBe('closed')
    const closed = closeCode(editor)
    edit(editor.doc, 'during')
    expect(await closed).toBe(1011)

    await proxy.restore()
    await waitFor(async () => (await ready()) === 200, '/readyz to turn 200 again')
    // The editor reconnects by itself and uploads what the failed write lost.
    const expected = contentOf(editor.doc)
    await waitFor(() => editor.synced && server.app.quire.registry.get('doc')?.doc.getText('t').toString() === expected.text, 'the editor to sync again', 15_000)
    editor.destroy()
    await waitFor(() => server.app.quire.registry.size === 0, 'the room to unload')
    expect(await freshContent(server.url, 'doc')).toEqual(expected)
  })

  it('fails to start, with the reason, when the database cannot be reached', async () => {
    const proxy = await tcpProxy()
    await proxy.cut() // a port nobody listens on
    await expect(serverOn(randomSchema(), { url: database.urlVia(proxy.port) })).rejects.toThrow(/ECONNREFUSED/)
  })
})
