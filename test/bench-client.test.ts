/**
 * The bench's load generator (bench/client.mjs) speaks the y-websocket protocol and Hocuspocus'
 * framing of it by hand. Its numbers only mean something if the real providers agree with it:
 * edits must flow both ways through the server and both sides must end with the same document.
 * Quire is checked against a WebsocketProvider; Hocuspocus, started as the bench starts it
 * (bench/peers/hocuspocus-server.mjs as a child process, SQLite in a temporary data dir), against a
 * HocuspocusProvider.
 */
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { BenchClient, MarkClock } from '../bench/client.mjs'
import { removeDir, startServer as startBenchServer } from '../bench/server-process.mjs'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'

const benchClients: BenchClient[] = []
const laterCleanups: Array<() => Promise<unknown> | void> = []
afterEach(async () => {
  await Promise.all(benchClients.splice(0).map((c) => c.close()))
  while (laterCleanups.length > 0) await Promise.resolve(laterCleanups.pop()!()).catch(() => {})
  await cleanup()
})

function benchClient(url: string, room: string, doc?: Y.Doc, protocol: 'y-websocket' | 'hocuspocus' = 'y-websocket'): BenchClient {
  const client = new BenchClient({ url, room, protocol, id: `bench${benchClients.length}`, doc, syncTimeoutMs: 10_000 })
  benchClients.push(client)
  return client
}

const sameState = (a: Y.Doc, b: Y.Doc) =>
  Buffer.from(Y.encodeStateVector(a)).equals(Buffer.from(Y.encodeStateVector(b))) &&
  a.getText('text').toString() === b.getText('text').toString()

describe('bench client against a real WebsocketProvider', () => {
  it('converges with a provider on the same document, edits flowing both ways', async () => {
    const server = await startServer()
    const room = 'bench/client test'

    // The provider writes first: the bench client must get it in its handshake.
    const provider = connect(server.url, room)
    await synced(provider)
    const providerText = provider.doc.getText('text')
    providerText.insert(0, 'from the provider. ')

    const bench = benchClient(server.url, room)
    await bench.synced
    await waitFor(() => bench.text.toString() === 'from the provider. ', 'bench client to receive the provider text')

    // bench → provider, as ordinary updates
    bench.insert('from the bench client.')
    await waitFor(() => providerText.toString() === 'from the provider. from the bench client.', 'provider to receive the bench edit')

    // provider → bench, concurrent with a bench edit at the same position
    providerText.insert(0, '[p]')
    bench.insert('[b]', 0)
    await waitFor(() => sameState(provider.doc, bench.doc), 'both documents to converge')
    expect(bench.text.toString()).toBe(providerText.toString())
    expect(bench.text.toString()).toContain('[p]')
    expect(bench.text.toString()).toContain('[b]')
    expect(bench.error).toBeNull()
    expect(bench.closed).toBe(false)
  })

  it('reports a mark sent by a provider-visible bench writer, and a reconnecting bench client catches up', async () => {
    const server = await startServer()
    const room = 'marks'
    const provider = connect(server.url, room)
    await synced(provider)

    const clock = new MarkClock()
    const marks: Array<{ key: string; own: boolean }> = []
    const writer = new BenchClient({ url: server.url, room, id: 'writer', onMark: (key, _at, _c, own) => marks.push({ key, own }) })
    benchClients.push(writer)
    await writer.synced
    writer.sendMark(clock, 'w0', 0)
    // Quire echoes an update to its sender too: the writer sees its own mark come back.
    await waitFor(() => marks.some((m) => m.key === 'w0:0' && m.own), 'the echo of the mark')
    await waitFor(() => provider.doc.getText('text').toString() === 'w0:0;', 'provider to receive the mark')

    // A bench client that was offline while the provider edited catches up with its old state.
    const offline = new Y.Doc()
    const first = benchClient(server.url, room, offline)
    await first.synced
    await first.close()
    expect(offline.isDestroyed).toBe(false) // a document passed in stays with its owner
    provider.doc.getText('text').insert(0, 'while you were away: ')
    const again = benchClient(server.url, room, offline)
    await again.synced
    await waitFor(() => sameState(provider.doc, offline), 'the reconnected bench client to catch up')
    expect(offline.getText('text').toString()).toBe('while you were away: w0:0;')
  })
})

/** Hocuspocus as the bench runs it: a child process on a fresh data dir, stopped with SIGTERM. */
async function startHocuspocus(dataDir?: string) {
  const server = await startBenchServer({ kind: 'hocuspocus', dataDir })
  laterCleanups.push(async () => {
    await server.stop()
    await removeDir(server.dataDir)
  })
  return server
}

function hocuspocusProvider(url: string, name: string, doc = new Y.Doc()): HocuspocusProvider {
  // Node 20 has no global WebSocket: the socket takes `ws` as its WebSocketPolyfill. A provider
  // given its socket does not attach by itself.
  const socket = new HocuspocusProviderWebsocket({ url, WebSocketPolyfill: WebSocket })
  const provider = new HocuspocusProvider({ websocketProvider: socket, name, document: doc })
  provider.attach()
  laterCleanups.push(() => {
    provider.destroy()
    socket.destroy()
  })
  return provider
}

const providerSynced = (provider: HocuspocusProvider) => waitFor(() => provider.isSynced, 'the HocuspocusProvider to sync')

describe('bench client in Hocuspocus framing against a real HocuspocusProvider', () => {
  it('converges with a provider on the same document, edits flowing both ways', async () => {
    const server = await startHocuspocus()
    expect(server.protocol).toBe('hocuspocus')
    const name = 'bench/client test'

    // The provider writes first: the bench client must get it in its handshake.
    const provider = hocuspocusProvider(server.url, name)
    await providerSynced(provider)
    const providerText = provider.document.getText('text')
    providerText.insert(0, 'from the provider. ')
    await waitFor(() => !provider.hasUnsyncedChanges, 'the server to confirm the provider edit')

    const bench = benchClient(server.url, name, undefined, 'hocuspocus')
    await bench.synced
    expect(bench.authenticated).toBe(true)
    expect(bench.text.toString()).toBe('from the provider. ') // there at "synced": the server's SyncStep2 had it

    // bench → provider, as ordinary updates
    bench.insert('from the bench client.')
    await waitFor(() => providerText.toString() === 'from the provider. from the bench client.', 'provider to receive the bench edit')

    // provider → bench, concurrent with a bench edit at the same position
    providerText.insert(0, '[p]')
    bench.insert('[b]', 0)
    await waitFor(() => sameState(provider.document, bench.doc), 'both documents to converge')
    expect(bench.text.toString()).toBe(providerText.toString())
    expect(bench.text.toString()).toContain('[p]')
    expect(bench.text.toString()).toContain('[b]')
    // Every update the bench client sent was answered with a SyncStatus, the handshake's SyncStep2 aside.
    await waitFor(() => bench.unacked === 0, 'the SyncStatus of every bench update')
    expect(bench.stats.acksIn).toBe(bench.stats.updatesOut)
    expect(bench.stats.acksRejected).toBe(0)
    expect(bench.error).toBeNull()
    expect(bench.closed).toBe(false)
    expect(bench.documentClosed).toBeNull()
  })

  it('sees its own marks echoed and acknowledged, keeps documents apart, and what it sent survives a restart', async () => {
    let server = await startHocuspocus()
    const provider = hocuspocusProvider(server.url, 'marks')
    await providerSynced(provider)

    const clock = new MarkClock()
    const marks: Array<{ key: string; own: boolean }> = []
    const acks: number[] = []
    const writer = new BenchClient({
      url: server.url,
      protocol: 'hocuspocus',
      room: 'marks',
      id: 'writer',
      onMark: (key, _at, _c, own) => marks.push({ key, own }),
      onAck: (arrivedAt, sentAt) => acks.push(arrivedAt - sentAt),
    })
    benchClients.push(writer)
    // Another document on the same server: nothing of "marks" may reach it.
    const elsewhere = benchClient(server.url, 'elsewhere', undefined, 'hocuspocus')
    await Promise.all([writer.synced, elsewhere.synced])
    writer.sendMark(clock, 'w0', 0)
    writer.sendMark(clock, 'w0', 1)
    // Hocuspocus echoes updates to their sender too (merged), and answers each with a SyncStatus.
    await waitFor(() => marks.filter((m) => m.own).length === 2, 'the echoes of both marks')
    await waitFor(() => acks.length === 2, 'the SyncStatus of both updates')
    expect(acks.every((ms) => ms >= 0)).toBe(true)
    await waitFor(() => provider.document.getText('text').toString() === 'w0:0;w0:1;', 'provider to receive the marks')
    expect(elsewhere.text.toString()).toBe('')
    expect(elsewhere.stats.updatesIn).toBe(1) // its own handshake's SyncStep2 only

    // A bench client that was offline while the provider edited catches up with its old state.
    const offline = new Y.Doc()
    const first = benchClient(server.url, 'marks', offline, 'hocuspocus')
    await first.synced
    await first.close()
    expect(offline.isDestroyed).toBe(false) // a document passed in stays with its owner
    provider.document.getText('text').insert(0, 'while you were away: ')
    await waitFor(() => !provider.hasUnsyncedChanges, 'the server to confirm the provider edit')
    const again = benchClient(server.url, 'marks', offline, 'hocuspocus')
    await again.synced
    await waitFor(() => sameState(provider.document, offline), 'the reconnected bench client to catch up')
    expect(offline.getText('text').toString()).toBe('while you were away: w0:0;w0:1;')

    // SIGTERM: Hocuspocus stores what is pending and exits 0; restarted on the same data dir, a
    // fresh provider gets the document from SQLite.
    await Promise.all(benchClients.splice(0).map((c) => c.close()))
    const dataDir = server.dataDir
    const exit = await server.stop()
    expect(exit).toEqual({ code: 0, signal: null })
    server = await startHocuspocus(dataDir)
    const fresh = hocuspocusProvider(server.url, 'marks')
    await providerSynced(fresh)
    await waitFor(() => fresh.document.getText('text').toString() === 'while you were away: w0:0;w0:1;', 'the stored document after the restart')
  })
})
