/**
 * The SSE transport end to end: an SseProvider (Node, fetch) and stock y-websocket providers on
 * one document converge both ways (text, awareness, offline edits); the raw stream's events,
 * headers and ids; `Last-Event-ID` resumes with exactly the missed updates, or with a `sync`
 * diff once compaction folded them away; updates committed while a stream starts are neither
 * lost nor out of order.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'
import { metric } from './metrics-helpers.js'
import {
  bytes,
  closeSse,
  docOf,
  eventsUrl,
  openStream,
  postUpdate,
  sseProvider,
  sseSynced,
  syncOf,
  textUpdate,
  waitForText,
} from './sse-helpers.js'

// Servers first: they end the streams themselves (a client that aborts a fetch leaves undici
// opening a spare connection, which a closing server would wait on until undici drops it).
afterEach(async () => {
  await cleanup()
  closeSse()
})

describe('SseProvider with WebSocket clients', () => {
  it('converges both ways: text, awareness, and edits made while disconnected', async () => {
    const server = await startServer()
    const ws = connect(server.url, 'shared')
    const sse = sseProvider(server, 'shared')
    await Promise.all([synced(ws), sseSynced(sse)])
    expect(sse.streamId).toMatch(/^[\w-]{22}$/)

    ws.doc.getText('t').insert(0, 'from websocket. ')
    await waitForText(sse.doc, 'from websocket. ', 'WebSocket edit over SSE')
    sse.doc.getText('t').insert(sse.doc.getText('t').length, 'from sse.')
    await waitForText(ws.doc, 'from websocket. from sse.', 'SSE edit over WebSocket')

    // Several quick local edits: batched into few POSTs, all arriving, in order.
    for (let i = 0; i < 20; i++) sse.doc.getText('t').insert(sse.doc.getText('t').length, String(i % 10))
    await waitForText(ws.doc, 'from websocket. from sse.01234567890123456789', 'a burst of SSE edits')

    // Awareness both ways; the SSE client's state goes away when its stream closes.
    sse.awareness.setLocalStateField('user', { name: 'Ada' })
    ws.awareness.setLocalStateField('user', { name: 'Bob' })
    await waitFor(() => (ws.awareness.getStates().get(sse.doc.clientID) as { user?: { name: string } } | undefined)?.user?.name === 'Ada', "Ada's presence over WebSocket")
    await waitFor(() => (sse.awareness.getStates().get(ws.doc.clientID) as { user?: { name: string } } | undefined)?.user?.name === 'Bob', "Bob's presence over SSE")
    sse.awareness.setLocalStateField('user', { name: 'Ada L.' })
    await waitFor(() => (ws.awareness.getStates().get(sse.doc.clientID) as { user?: { name: string } } | undefined)?.user?.name === 'Ada L.', 'the renamed presence')

    // The stream is a connection of the room.
    expect(server.app.quire.registry.connections('shared')).toBe(2)
    expect(await metric(server, 'quire_connections')).toBe(2)

    // Offline: both edit; on reconnect each gets the other's edits.
    sse.disconnect()
    await waitFor(() => !ws.awareness.getStates().has(sse.doc.clientID), 'the SSE presence removed when its stream closed')
    await waitFor(() => server.app.quire.registry.connections('shared') === 1, 'the stream to leave the room')
    sse.doc.getText('t').insert(0, '[sse offline] ')
    ws.doc.getText('t').insert(ws.doc.getText('t').length, ' [ws meanwhile]')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(ws.doc.getText('t').toString()).not.toContain('[sse offline]')
    sse.connect()
    await sseSynced(sse)
    const expected = '[sse offline] from websocket. from sse.01234567890123456789 [ws meanwhile]'
    await waitForText(sse.doc, expected, 'WebSocket edit made while the SSE client was offline')
    await waitForText(ws.doc, expected, 'SSE offline edit after reconnecting')
    await waitFor(() => ws.awareness.getStates().has(sse.doc.clientID), 'the SSE presence back after reconnecting')
    expect(server.app.quire.registry.get('shared')!.doc.getText('t').toString()).toBe(expected)
  })

  it('syncs a fresh client with a stored document, and a client with content of its own both ways', async () => {
    const server = await startServer()
    expect((await postUpdate(server, 'stored', textUpdate('stored. '))).status).toBe(200)
    const fresh = sseProvider(server, 'stored')
    await sseSynced(fresh)
    expect(fresh.doc.getText('t').toString()).toBe('stored. ')

    // Content made before connecting (say, from IndexedDB) reaches the server after the sync.
    const local = new Y.Doc()
    local.getText('t').insert(0, 'local first. ')
    const withContent = sseProvider(server, 'stored', local)
    await sseSynced(withContent)
    await waitFor(() => server.app.quire.registry.get('stored')?.doc.getText('t').length === 'stored. local first. '.length, 'the local content on the server')
    await waitFor(() => fresh.doc.getText('t').length === 'stored. local first. '.length, 'the local content at the other client')
    expect(local.getText('t').toString()).toBe(fresh.doc.getText('t').toString())
  })
})

describe('the event stream', () => {
  it('starts with sync (stream id, seq, state vector, state), relays updates with their seq as id, and sends no-buffering headers', async () => {
    const server = await startServer()
    const first = textUpdate('one ')
    expect((await postUpdate(server, 'raw', first)).status).toBe(200)
    const stream = await openStream(eventsUrl(server, 'raw'))
    expect(stream.status).toBe(200)
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(stream.headers.get('cache-control')).toBe('no-cache, no-transform')
    expect(stream.headers.get('x-accel-buffering')).toBe('no')
    expect(stream.headers.get('connection')).toBe('keep-alive')
    const sync = await stream.next((e) => e.event === 'sync', 'sync')
    expect(stream.events[0]).toBe(sync)
    const data = syncOf(sync)
    expect(sync.id).toBe('1')
    expect(data).toMatchObject({ seq: 1, stream: expect.any(String) })
    expect(data.resumed).toBeUndefined()
    expect(docOf([sync]).getText('t').toString()).toBe('one ')
    const serverDoc = server.app.quire.registry.get('raw')!.doc
    expect(bytes(data.stateVector)).toEqual(Y.encodeStateVector(serverDoc))

    expect((await postUpdate(server, 'raw', textUpdate('two '))).status).toBe(200)
    const update = await stream.next((e) => e.event === 'update', 'update')
    expect(update.id).toBe('2')
    expect(docOf(stream.events).getText('t').toString()).toMatch(/^(one two |two one )$/)
  })

  it('with ?sv= the sync carries only what that state vector lacks', async () => {
    const server = await startServer()
    const client = new Y.Doc()
    Y.applyUpdate(client, textUpdate('known '))
    expect((await postUpdate(server, 'diff', Y.encodeStateAsUpdate(client))).status).toBe(200)
    const big = 'x'.repeat(10_000)
    expect((await postUpdate(server, 'diff', textUpdate(big))).status).toBe(200)
    const sv = Buffer.from(Y.encodeStateVector(client)).toString('base64url')
    const stream = await openStream(eventsUrl(server, 'diff', `sv=${sv}`))
    const data = syncOf(await stream.next((e) => e.event === 'sync', 'sync'))
    const diff = bytes(data.update!)
    expect(diff.byteLength).toBeLessThan(Y.encodeStateAsUpdate(server.app.quire.registry.get('diff')!.doc).byteLength)
    Y.applyUpdate(client, diff)
    expect(client.getText('t').length).toBe('known '.length + big.length)
    await expectErrorStatus(fetch(eventsUrl(server, 'diff', 'sv=%%%')), 400)
    await expectErrorStatus(fetch(eventsUrl(server, 'diff', 'sv=AQ')), 400)
  })

  it('Last-Event-ID (header or ?lastEventId=) resumes with exactly the updates stored since', async () => {
    const server = await startServer()
    const writer = new Y.Doc()
    const updates: Uint8Array[] = []
    writer.on('update', (u: Uint8Array) => updates.push(u))
    const write = async (text: string) => {
      writer.getText('t').insert(writer.getText('t').length, text)
      expect((await postUpdate(server, 'resume', updates.at(-1)!)).status).toBe(200)
    }
    await write('a')
    await write('b')
    const first = await openStream(eventsUrl(server, 'resume'))
    await first.next((e) => e.event === 'sync', 'sync')
    await write('c')
    await first.next((e) => e.event === 'update' && e.id === '3', 'update 3')
    first.close()
    // Keep the room loaded, as it would be with other people editing.
    const holder = await openStream(eventsUrl(server, 'resume'))
    await holder.next((e) => e.event === 'sync', 'holder sync')
    await write('d')
    await write('e')
    await write('f')

    const ways: Array<[string, Record<string, string>]> = [['', { 'last-event-id': '3' }], ['lastEventId=3', {}]]
    for (const [query, headers] of ways) {
      const resumed = await openStream(eventsUrl(server, 'resume', query), headers)
      const sync = await resumed.next((e) => e.event === 'sync', 'resumed sync')
      expect(syncOf(sync)).toMatchObject({ seq: 3, resumed: true })
      expect(syncOf(sync).update).toBeUndefined()
      await resumed.next((e) => e.id === '6', 'update 6')
      await new Promise((resolve) => setTimeout(resolve, 50)) // nothing else follows
      const got = resumed.events.filter((e) => e.event === 'update')
      expect(got.map((e) => e.id)).toEqual(['4', '5', '6'])
      expect(got.map((e) => bytes(e.data))).toEqual(updates.slice(3, 6).map((u) => new Uint8Array(u)))
      // Applied to what the client had at id 3, they give the document.
      const client = docOf(first.events)
      docOf(resumed.events, client)
      expect(client.getText('t').toString()).toBe('abcdef')
      resumed.close()
    }
    // The header wins over the query parameter; garbage is refused.
    const both = await openStream(eventsUrl(server, 'resume', 'lastEventId=1'), { 'last-event-id': '5' })
    expect(syncOf(await both.next((e) => e.event === 'sync', 'sync'))).toMatchObject({ seq: 5, resumed: true })
    await expectErrorStatus(fetch(eventsUrl(server, 'resume'), { headers: { 'last-event-id': 'abc' } }), 400)
    // An id past the document's history (another incarnation of it): a full sync instead.
    const future = await openStream(eventsUrl(server, 'resume', 'lastEventId=999'))
    const fresh = syncOf(await future.next((e) => e.event === 'sync', 'sync'))
    expect(fresh.resumed).toBeUndefined()
    expect(docOf(future.events).getText('t').toString()).toBe('abcdef')
  })

  it('after compaction folded the missed updates away, resumes with a sync diff that converges', async () => {
    const server = await startServer({ compactAfterUpdates: 2 })
    const writer = new Y.Doc()
    const updates: Uint8Array[] = []
    writer.on('update', (u: Uint8Array) => updates.push(u))
    const write = async (text: string) => {
      writer.getText('t').insert(writer.getText('t').length, text)
      expect((await postUpdate(server, 'compacted', updates.at(-1)!)).status).toBe(200)
    }
    const holder = await openStream(eventsUrl(server, 'compacted'))
    await holder.next((e) => e.event === 'sync', 'holder sync')
    await write('1')
    const first = await openStream(eventsUrl(server, 'compacted'))
    const seen = syncOf(await first.next((e) => e.event === 'sync', 'sync')).seq
    first.close()
    for (const text of ['2', '3', '4', '5', '6']) await write(text)
    await waitFor(async () => (await server.app.quire.store.readSince('compacted', seen)) === null, 'compaction to fold the log')

    const client = docOf(first.events)
    const sv = Buffer.from(Y.encodeStateVector(client)).toString('base64url')
    const resumed = await openStream(eventsUrl(server, 'compacted', `sv=${sv}`), { 'last-event-id': String(seen) })
    const sync = syncOf(await resumed.next((e) => e.event === 'sync', 'sync'))
    expect(sync.resumed).toBeUndefined()
    expect(sync.seq).toBe(6)
    docOf(resumed.events, client)
    expect(client.getText('t').toString()).toBe('123456')
    await write('7')
    await resumed.next((e) => e.event === 'update' && e.id === '7', 'the next update, id 7')
    docOf(resumed.events.filter((e) => e.event === 'update'), client)
    expect(client.getText('t').toString()).toBe('1234567')
  })

  it('with updates from other instances out of order, an id never passes a seq the client lacks', async () => {
    const server = await startServer()
    const holder = await openStream(eventsUrl(server, 'cluster'))
    await holder.next((e) => e.event === 'sync', 'sync')
    const room = server.app.quire.registry.get('cluster')!
    // What the cluster bus does with another instance's update: applied and relayed under its seq.
    const remote = (seq: number, instance: string | null = 'other') => room.applyRemoteUpdate(textUpdate(`<${seq}>`), { instance, seq })
    const ids = (stream: typeof holder) => stream.events.filter((e) => e.event === 'update').map((e) => e.id ?? '-')

    remote(2) // 1 is still on its way
    await holder.next((e) => e.event === 'update', 'update 2')
    remote(1)
    await waitFor(() => ids(holder).length === 2, 'update 1')
    expect(ids(holder)).toEqual(['-', '2']) // 2 went out without an id; 1 completes the run up to 2

    // A snapshot taken while 3 and 4 are missing covers only up to 2, though it holds 5.
    remote(5)
    const late = await openStream(eventsUrl(server, 'cluster'))
    const sync = await late.next((e) => e.event === 'sync', 'sync')
    expect(sync.id).toBe('2')
    remote(4)
    remote(3)
    await waitFor(() => ids(late).length === 2, 'updates 4 and 3')
    expect(ids(late)).toEqual(['-', '5'])
    // A catch-up read back from the store leaves the room complete up to its seq.
    remote(9, null)
    await waitFor(() => ids(late).length === 3, 'update 9')
    expect(ids(late).at(-1)).toBe('9')
    expect(docOf(late.events).getText('t').length).toBe(docOf(holder.events).getText('t').length)
  })

  it('loses and repeats nothing while updates commit as streams start', async () => {
    const server = await startServer()
    const writer = connect(server.url, 'busy')
    await synced(writer)
    const text = writer.doc.getText('t')
    let writing = true
    const written = (async () => {
      for (let i = 0; writing; i++) {
        text.insert(text.length, String(i % 10))
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
    })()
    const opened = []
    for (let i = 0; i < 8; i++) {
      opened.push(await openStream(eventsUrl(server, 'busy')))
      await new Promise((resolve) => setTimeout(resolve, 15))
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
    writing = false
    await written
    const final = text.toString()
    await waitFor(() => server.app.quire.registry.get('busy')!.doc.getText('t').toString() === final, 'the server to have every edit')
    for (const stream of opened) {
      await waitFor(() => docOf(stream.events).getText('t').toString() === final, 'a stream to converge')
      // Ids go up one by one from the sync's: no update skipped, none sent twice.
      const ids = stream.events.filter((e) => e.id !== undefined).map((e) => Number(e.id))
      expect(ids.length).toBeGreaterThan(1)
      for (let i = 1; i < ids.length; i++) expect(ids[i]).toBe(ids[i - 1]! + 1)
      expect(stream.events[0]!.event).toBe('sync')
    }
  })
})

async function expectErrorStatus(response: Promise<Response>, status: number): Promise<void> {
  const answer = await response
  expect(answer.status).toBe(status)
  expect(((await answer.json()) as { statusCode: number }).statusCode).toBe(status)
}
