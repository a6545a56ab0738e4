import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'

afterEach(cleanup)

describe('offline editing and reconnect', () => {
  it('merges edits made on both sides and sends the reconnecting client only what it lacks', async () => {
    const server = await startServer()
    const a = connect(server.url, 'trip')
    const b = connect(server.url, 'trip')
    await Promise.all([synced(a), synced(b)])
    const textA = a.doc.getText('t')
    textA.insert(0, 'x'.repeat(20_000)) // shared history the diff must not resend
    await waitFor(() => b.doc.getText('t').length === 20_000, 'b to receive the shared history')

    b.disconnect()
    await waitFor(() => server.app.quire.registry.get('trip')?.peerCount === 1, 'the server to drop b')
    textA.insert(0, 'online ')
    b.doc.getText('t').insert(20_000, ' offline')
    b.doc.getMap('m').set('by', 'b')
    await waitFor(() => server.app.quire.registry.get('trip')!.doc.getText('t').toString().startsWith('online '), 'a edit on the server')

    // What a minimal answer to b's SyncStep1 looks like, computed from the server's doc right now.
    const serverDoc = server.app.quire.registry.get('trip')!.doc
    const minimal = Y.encodeStateAsUpdate(serverDoc, Y.encodeStateVector(b.doc))
    const step2s: Uint8Array[] = []
    b.on('status', ({ status }: { status: string }) => {
      if (status !== 'connected') return
      b.ws!.addEventListener('message', (event: MessageEvent) => {
        const frame = new Uint8Array(event.data as ArrayBuffer)
        const decoder = decoding.createDecoder(frame)
        if (decoding.readVarUint(decoder) === 0 && decoding.readVarUint(decoder) === 1) {
          step2s.push(decoding.readVarUint8Array(decoder))
        }
      })
    })
    b.connect()
    await synced(b)

    const expected = 'online ' + 'x'.repeat(20_000) + ' offline'
    await waitFor(() => textA.toString() === expected && b.doc.getText('t').toString() === expected, 'convergence')
    await waitFor(() => a.doc.getMap('m').get('by') === 'b', 'b offline map edit to reach a')
    expect(step2s.length).toBeGreaterThanOrEqual(1)
    expect(step2s[0]!.byteLength).toBeLessThanOrEqual(minimal.byteLength)
    expect(step2s[0]!.byteLength).toBeLessThan(1_000) // far below the 20 KB document
  })

  it('uploads edits made before the first connection, because the server asks with its own SyncStep1', async () => {
    const server = await startServer()
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'written offline')
    const writer = connect(server.url, 'draft', doc)
    await synced(writer)
    await waitFor(
      () => server.app.quire.registry.get('draft')?.doc.getText('t').toString() === 'written offline',
      'the offline edit to reach the server',
    )
    const reader = connect(server.url, 'draft')
    await synced(reader)
    expect(reader.doc.getText('t').toString()).toBe('written offline')
  })
})
