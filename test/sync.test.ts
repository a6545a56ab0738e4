import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'

afterEach(cleanup)

describe('sync between y-websocket providers', () => {
  it('converges on concurrent text edits and serves a late joiner everything', async () => {
    const server = await startServer()
    const a = connect(server.url, 'notes')
    const b = connect(server.url, 'notes')
    await Promise.all([synced(a), synced(b)])

    const textA = a.doc.getText('t')
    const textB = b.doc.getText('t')
    for (let i = 0; i < 50; i++) {
      textA.insert(textA.length, 'a')
      textB.insert(0, 'b')
    }
    await waitFor(() => textA.length === 100 && textB.length === 100, 'both providers to hold 100 chars')
    expect(textA.toString()).toBe(textB.toString())

    const late = connect(server.url, 'notes')
    await synced(late)
    // "synced" means the SyncStep2 arrived: the late joiner must already hold everything.
    expect(late.doc.getText('t').toString()).toBe(textA.toString())
  })

  it('keeps documents apart and reaches names with slashes and Unicode', async () => {
    const server = await startServer()
    const one = connect(server.url, 'team-a/spec ü')
    const other = connect(server.url, 'team-a/spec')
    await Promise.all([synced(one), synced(other)])
    one.doc.getText('t').insert(0, 'first')
    other.doc.getText('t').insert(0, 'second')
    const again = connect(server.url, 'team-a/spec ü')
    await waitFor(() => again.synced && again.doc.getText('t').toString() === 'first', 'the unicode room')
    expect(other.doc.getText('t').toString()).toBe('second')
    expect(server.app.quire.registry.get('team-a/spec ü')).toBeDefined()
  })

  it('echoes a client its own update', async () => {
    const server = await startServer()
    const a = connect(server.url, 'echo')
    await synced(a)
    const frames: Uint8Array[] = []
    a.ws!.addEventListener('message', (event: MessageEvent) => frames.push(new Uint8Array(event.data as ArrayBuffer)))
    a.doc.getText('t').insert(0, 'x')
    // [0, 2, …] is a sync Update message; the server relays to all peers including the sender.
    await waitFor(() => frames.some((f) => f[0] === 0 && f[1] === 2), 'the echo of the update')
    const echoed = frames.find((f) => f[0] === 0 && f[1] === 2)!
    const copy = new Y.Doc()
    Y.applyUpdate(copy, echoed.subarray(3)) // payload after type, subtype and a 1-byte length
    expect(copy.getText('t').toString()).toBe('x')
  })
})
