/**
 * The bench's load generator (bench/client.mjs) speaks the y-websocket protocol by hand. Its numbers
 * only mean something if a real WebsocketProvider agrees with it: edits must flow both ways
 * through Quire and both sides must end with the same document.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { BenchClient, MarkClock } from '../bench/client.mjs'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'

const benchClients: BenchClient[] = []
afterEach(async () => {
  await Promise.all(benchClients.splice(0).map((c) => c.close()))
  await cleanup()
})

function benchClient(url: string, room: string, doc?: Y.Doc): BenchClient {
  const client = new BenchClient({ url, room, id: `bench${benchClients.length}`, doc, syncTimeoutMs: 10_000 })
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
