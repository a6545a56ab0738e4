/**
 * An SSE stream is held to what a WebSocket connection is: dropped when it stops reading
 * (slow-consumer limit), counted against the connection limit, its awareness owned and bounded
 * like a WebSocket peer's (ids, sizes, message rate), ended with a `close` event on refusal,
 * deletion and shutdown.
 */
import { connect as tcpConnect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import { cleanup, connect, startServer, synced, waitFor, type TestServer } from './helpers.js'
import { metric } from './metrics-helpers.js'
import { expectError } from './rest-helpers.js'
import { closeSse, eventsUrl, openStream, postUpdate, syncOf, textUpdate, type RawStream } from './sse-helpers.js'

afterEach(async () => {
  await cleanup()
  closeSse()
})

const MiB = 1024 * 1024

/** An awareness update announcing `states` (at `clock`: 1 is a client's first real state). */
function awarenessOf(states: Record<number, object | null>, clock = 1): Uint8Array {
  const e = encoding.createEncoder()
  const entries = Object.entries(states)
  encoding.writeVarUint(e, entries.length)
  for (const [id, state] of entries) {
    encoding.writeVarUint(e, Number(id))
    encoding.writeVarUint(e, clock)
    encoding.writeVarString(e, JSON.stringify(state))
  }
  return encoding.toUint8Array(e)
}

function postAwareness(server: TestServer, name: string, stream: string, body: Uint8Array): Promise<Response> {
  return fetch(`http://127.0.0.1:${server.port}/api/docs/${encodeURIComponent(name)}/awareness?stream=${stream}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body,
  })
}

async function streamOf(server: TestServer, name: string): Promise<{ stream: RawStream; id: string }> {
  const stream = await openStream(eventsUrl(server, name))
  const id = syncOf(await stream.next((e) => e.event === 'sync', 'sync')).stream
  return { stream, id }
}

const closeOf = async (stream: RawStream) => JSON.parse((await stream.next((e) => e.event === 'close', 'close event')).data) as { code: number; error: string; reason: string }

describe('SSE limits', () => {
  it('drops a stream that stops reading once more than --max-buffered-bytes wait for it', async () => {
    const server = await startServer({ compactAfterBytes: 2 ** 40, limits: { maxBufferedBytes: MiB, messagesPerSecond: 0 } })
    const reader = await streamOf(server, 'firehose')
    // A client that sends the request, reads the response headers, and then never reads again.
    const slow = tcpConnect(server.port, '127.0.0.1')
    slow.on('error', () => {})
    await new Promise<void>((resolve) => slow.once('connect', () => resolve()))
    slow.write(`GET /api/docs/firehose/events HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAccept: text/event-stream\r\n\r\n`)
    await new Promise<void>((resolve) => slow.once('data', () => resolve()))
    slow.pause()
    await waitFor(() => server.app.quire.registry.connections('firehose') === 2, 'the paused stream to join')

    // 48 chunks are 32 MiB of events: far more than the threshold plus the kernel's socket buffers.
    const chunk = 512 * 1024
    let posted = 0
    for (; posted < 48 && server.app.quire.registry.connections('firehose') === 2; posted++) {
      expect((await postUpdate(server, 'firehose', textUpdate(String.fromCharCode(97 + (posted % 26)).repeat(chunk)))).status).toBe(200)
    }
    expect(posted).toBeLessThan(48)
    await waitFor(() => server.app.quire.registry.connections('firehose') === 1, 'the paused stream to be dropped')
    expect(await metric(server, 'quire_limit_rejections_total{limit="slow-consumer"}')).toBe(1)
    expect(await metric(server, 'quire_connection_errors_total{code="QUIRE_SLOW_CONSUMER"}')).toBe(1)
    // The reading stream is untouched and has every update.
    expect(reader.stream.events.at(-1)!.event).toBe('update')
    slow.destroy()
  })

  it('counts streams against --max-connections (503 past it) and in the connection metrics', async () => {
    const server = await startServer({ limits: { maxConnections: 2 } })
    const first = await streamOf(server, 'full')
    const ws = connect(server.url, 'full')
    await synced(ws)
    await expectError(await fetch(eventsUrl(server, 'full')), 503, /server full/)
    expect(await metric(server, 'quire_connections')).toBe(2)
    first.stream.close()
    await waitFor(async () => (await metric(server, 'quire_connections')) === 1, 'the closed stream to be released')
    expect(await metric(server, 'quire_connection_closes_total{code="1005"}')).toBe(1) // the client went away: no status
    await streamOf(server, 'full')
  })

  it('owns the awareness ids a stream announces like a WebSocket peer, and removes them when it closes', async () => {
    const server = await startServer({ awarenessWindowMs: 0 })
    const ws = connect(server.url, 'presence')
    await synced(ws)
    const a = await streamOf(server, 'presence')
    const b = await streamOf(server, 'presence')
    expect((await postAwareness(server, 'presence', a.id, awarenessOf({ 7: { name: 'Ada' } }))).status).toBe(204)
    await waitFor(() => (ws.awareness.getStates().get(7) as { name?: string } | undefined)?.name === 'Ada', "Ada's state at the WebSocket client")
    // Another stream cannot take it over, nor the server's own id.
    const forged = encoding.createEncoder()
    encoding.writeVarUint(forged, 1)
    encoding.writeVarUint(forged, 7)
    encoding.writeVarUint(forged, 5)
    encoding.writeVarString(forged, JSON.stringify({ name: 'Mallory' }))
    expect((await postAwareness(server, 'presence', b.id, encoding.toUint8Array(forged))).status).toBe(204)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(server.app.quire.registry.get('presence')!.awareness.getStates().get(7)).toEqual({ name: 'Ada' })
    // Each stream sees the others' states as `awareness` events.
    await b.stream.next((e) => e.event === 'awareness', 'awareness at the other stream')

    b.stream.close() // b's pending claim on 7 goes with it
    a.stream.close()
    await waitFor(() => !ws.awareness.getStates().has(7), 'the state removed when its stream closed')
  })

  it('a refused awareness POST answers the HTTP status and ends its stream with a close event', async () => {
    const server = await startServer({ limits: { maxAwarenessClients: 2, maxAwarenessBytes: 100, messageBurst: 3, messagesPerSecond: 1 } })
    const cases: Array<[Uint8Array, number, string, number]> = [
      [new Uint8Array([1, 2, 3]), 400, 'QUIRE_INVALID_AWARENESS', 1007],
      [awarenessOf({ 1: {}, 2: {}, 3: {} }), 400, 'QUIRE_AWARENESS_CLIENTS', 1008],
      [awarenessOf({ 1: { name: 'x'.repeat(200) } }), 413, 'QUIRE_AWARENESS_TOO_LARGE', 4413],
    ]
    for (const [body, status, error, code] of cases) {
      const { stream, id } = await streamOf(server, 'refusals')
      await expectError(await postAwareness(server, 'refusals', id, body), status)
      expect(await closeOf(stream)).toMatchObject({ code, error })
      await stream.ended
      await expectError(await postAwareness(server, 'refusals', id, awarenessOf({ 1: {} })), 404)
    }
    // Message rate: the stream's own bucket (burst 3), not the address's REST limit.
    const { stream, id } = await streamOf(server, 'refusals')
    for (let i = 1; i <= 3; i++) expect((await postAwareness(server, 'refusals', id, awarenessOf({ 10: { i } }, i))).status).toBe(204)
    await expectError(await postAwareness(server, 'refusals', id, awarenessOf({ 10: { i: 4 } }, 4)), 429)
    expect(await closeOf(stream)).toMatchObject({ code: 1008, error: 'QUIRE_MESSAGE_RATE' })
  })

  it('awareness POSTs for a live stream are not charged to the REST rate limit; others are', async () => {
    const server = await startServer({ restRateLimit: { max: 3, windowMs: 60_000 }, limits: { messagesPerSecond: 0 } })
    const { id } = await streamOf(server, 'busy')
    for (let i = 0; i < 10; i++) expect((await postAwareness(server, 'busy', id, awarenessOf({ 5: { i } }))).status).toBe(204)
    for (let i = 0; i < 3; i++) await expectError(await postAwareness(server, 'busy', 'nope', awarenessOf({ 5: {} })), 404)
    await expectError(await postAwareness(server, 'busy', 'nope', awarenessOf({ 5: {} })), 429)
  })

  it('ends streams with a close event when the document is deleted and when the server shuts down', async () => {
    const server = await startServer()
    expect((await postUpdate(server, 'doomed', textUpdate('x'))).status).toBe(200)
    const doomed = await streamOf(server, 'doomed')
    expect((await fetch(`http://127.0.0.1:${server.port}/api/docs/doomed`, { method: 'DELETE' })).status).toBe(204)
    expect(await closeOf(doomed.stream)).toMatchObject({ code: 4404, error: 'QUIRE_DOCUMENT_DELETED' })

    const live = await streamOf(server, 'live')
    const started = Date.now()
    await server.close()
    expect(Date.now() - started).toBeLessThan(1500)
    expect(await closeOf(live.stream)).toMatchObject({ code: 1001, error: 'QUIRE_SHUTTING_DOWN' })
    await live.stream.ended
  })

  it('answers a stream of an invalid document name with 400, not a stream', async () => {
    const server = await startServer()
    await expectError(await fetch(`http://127.0.0.1:${server.port}/api/docs/${encodeURIComponent('bad\u0001name')}/events`), 400)
    const doc = new Y.Doc()
    const awareness = new Awareness(doc)
    await expectError(await postAwareness(server, 'bad\u0001name', 'x', encodeAwarenessUpdate(awareness, [doc.clientID])), 400)
  })
})
