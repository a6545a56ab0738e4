/**
 * Protective limits over real sockets: each limit closes the offending connection with its
 * documented code and reason, counts it in quire_limit_rejections_total, and leaves the other
 * clients syncing.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import type { WebsocketProvider } from 'y-websocket'
import { cleanup, connect, rawClient, startServer, synced, waitFor, withTimeout, type TestServer } from './helpers.js'
import { metric } from './metrics-helpers.js'
import { docUrl, docFrom, getBytes, postUpdate } from './rest-helpers.js'

afterEach(cleanup)

const rejections = (server: TestServer, limit: string) => metric(server, `quire_limit_rejections_total{limit="${limit}"}`)

/** `b` sees an edit `a` makes now: the pair is still being served. */
async function stillSyncing(a: WebsocketProvider, b: WebsocketProvider, text: string): Promise<void> {
  a.doc.getText('t').insert(0, text)
  await waitFor(() => b.doc.getText('t').toString().includes(text), `"${text}" to reach the other client`)
}

function updateFrame(update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, 2)
  encoding.writeVarUint8Array(e, update)
  return encoding.toUint8Array(e)
}

function insertUpdate(text: string): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

describe('connection limits', () => {
  it('closes the connection past the per-IP limit with 1013 while the first ones keep syncing', async () => {
    const server = await startServer({ limits: { maxConnectionsPerIp: 2 } })
    const a = connect(server.url, 'ip')
    const b = connect(server.url, 'ip')
    await Promise.all([synced(a), synced(b)])
    const third = await rawClient(server.url, 'ip')
    expect(await withTimeout(third.closed, 5000, 'the third socket to close')).toEqual({
      code: 1013,
      reason: 'too many connections from your address',
    })
    expect(third.frames).toEqual([]) // closed before joining: no document content
    expect(await rejections(server, 'connections-per-ip')).toBe(1)
    await stillSyncing(a, b, 'first two ')
    // A slot freed by a closing connection can be used again.
    b.destroy()
    await waitFor(() => server.app.quire.registry.connections('ip') === 1, 'b to be gone')
    const again = await rawClient(server.url, 'ip')
    await waitFor(() => again.frames.length > 0, 'the new socket to get SyncStep1')
    expect(await rejections(server, 'connections-per-ip')).toBe(1)
  })

  it('closes connections past the server-wide limit with 1013 "server full"', async () => {
    const server = await startServer({ limits: { maxConnections: 2 } })
    const a = connect(server.url, 'one')
    const b = connect(server.url, 'one')
    await Promise.all([synced(a), synced(b)])
    const extra = await rawClient(server.url, 'another')
    expect(await withTimeout(extra.closed, 5000, 'the extra socket to close')).toEqual({ code: 1013, reason: 'server full' })
    expect(await rejections(server, 'connections')).toBe(1)
    await stillSyncing(a, b, 'full but fine ')
  })

  it('refuses a join that would load one room too many with 1013; loaded rooms still take joins', async () => {
    const server = await startServer({ limits: { maxRooms: 1 } })
    const a = connect(server.url, 'loaded')
    await synced(a)
    const other = await rawClient(server.url, 'cold')
    expect(await withTimeout(other.closed, 5000, 'the cold join to close')).toEqual({
      code: 1013,
      reason: 'too many documents open, try again later',
    })
    expect(server.app.quire.registry.get('cold')).toBeUndefined()
    expect(await rejections(server, 'rooms')).toBe(1)
    const b = connect(server.url, 'loaded')
    await synced(b)
    await stillSyncing(a, b, 'same room ')
  })

  it('counts frames over the maximum size (1009)', async () => {
    const server = await startServer({ maxFrameBytes: 1024 })
    const a = connect(server.url, 'frames')
    const b = connect(server.url, 'frames')
    await Promise.all([synced(a), synced(b)])
    const big = await rawClient(server.url, 'frames')
    big.send(updateFrame(insertUpdate('x'.repeat(2000))))
    expect((await withTimeout(big.closed, 5000, 'the big frame to close')).code).toBe(1009)
    await waitFor(async () => (await rejections(server, 'frame-size')) === 1, 'the frame-size rejection to be counted')
    await stillSyncing(a, b, 'small frames ')
  })
})

describe('message rate', () => {
  it('closes a client flooding awareness with 1008 while a normal provider keeps syncing', async () => {
    const server = await startServer({ limits: { messageBurst: 50, messagesPerSecond: 20 } })
    const a = connect(server.url, 'rate')
    const b = connect(server.url, 'rate')
    await Promise.all([synced(a), synced(b)])
    // Typing ten characters with a cursor in awareness: well under the burst.
    for (let i = 0; i < 10; i++) {
      a.doc.getText('t').insert(i, String(i))
      a.awareness.setLocalStateField('cursor', i)
    }
    const flooder = await rawClient(server.url, 'rate')
    const doc = new Y.Doc()
    const awareness = new Awareness(doc)
    for (let i = 0; i < 500; i++) {
      awareness.setLocalState({ n: i })
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, 1)
      encoding.writeVarUint8Array(e, encodeAwarenessUpdate(awareness, [doc.clientID]))
      flooder.send(encoding.toUint8Array(e))
    }
    awareness.destroy()
    expect(await withTimeout(flooder.closed, 5000, 'the flooder to be closed')).toEqual({
      code: 1008,
      reason: 'more than 20 messages per second',
    })
    expect(await rejections(server, 'message-rate')).toBe(1)
    await waitFor(() => b.doc.getText('t').toString() === '0123456789', 'the typed text to arrive')
    await stillSyncing(a, b, 'typing on ')
    expect(a.wsconnected && b.wsconnected).toBe(true)
    // The flooder's awareness state left with it.
    await waitFor(() => !b.awareness.getStates().has(doc.clientID), 'the flooder awareness to be removed')
  })
})

describe('document size quota', () => {
  it('refuses an update that would pass the quota with 4413 and leaves the document unchanged', async () => {
    const server = await startServer({ limits: { maxDocumentBytes: 20_000 } })
    const a = connect(server.url, 'quota')
    await synced(a)
    a.doc.getText('t').insert(0, 'hello')
    await waitFor(() => server.app.quire.registry.get('quota')?.doc.getText('t').toString() === 'hello', 'hello to arrive')
    const big = await rawClient(server.url, 'quota')
    big.send(updateFrame(insertUpdate('B'.repeat(30_000))))
    expect(await withTimeout(big.closed, 5000, 'the oversized update to close')).toEqual({
      code: 4413,
      reason: 'document would exceed 20000 bytes',
    })
    expect(await rejections(server, 'document-size')).toBe(1)
    const exported = docFrom(await getBytes(docUrl(server, 'quota', '/update')))
    expect(exported.getText('t').toString()).toBe('hello')
    // Small edits still fit, and reach a newcomer without the refused content.
    const b = connect(server.url, 'quota')
    await synced(b)
    await stillSyncing(a, b, 'still ')
    expect(b.doc.getText('t').toString()).toBe('still hello')
  })

  it('answers a REST update past the quota with 413 and stores nothing', async () => {
    const server = await startServer({ limits: { maxDocumentBytes: 20_000 } })
    const response = await postUpdate(docUrl(server, 'rest-quota', '/update'), insertUpdate('R'.repeat(30_000)))
    expect(response.status).toBe(413)
    expect(await response.json()).toEqual({ statusCode: 413, error: 'Payload Too Large', message: 'document would exceed 20000 bytes' })
    expect(await server.app.quire.store.info('rest-quota')).toBeNull()
  })
})
