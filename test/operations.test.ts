/** /healthz, /readyz and /metrics against real servers and real traffic. */
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { LevelDocStore } from '../src/index.js'
import { cleanup, connect, rawClient, startServer, synced, tempDir, waitFor } from './helpers.js'
import { metric, sample, scrape } from './metrics-helpers.js'

afterEach(cleanup)

const get = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`)

describe('health endpoints', () => {
  it('answers healthz and readyz with 200 JSON while the database is open', async () => {
    const server = await startServer()
    const health = await get(server.port, '/healthz')
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: 'ok' })
    const ready = await get(server.port, '/readyz')
    expect(ready.status).toBe(200)
    expect(ready.headers.get('content-type')).toMatch(/application\/json/)
    expect(await ready.json()).toEqual({ status: 'ready', storage: 'open', shuttingDown: false })
  })

  it('turns readyz to 503 when the database is closed, while healthz stays 200', async () => {
    const store = await LevelDocStore.open(await tempDir())
    const server = await startServer({ store })
    await store.close()
    const ready = await get(server.port, '/readyz')
    expect(ready.status).toBe(503)
    expect(await ready.json()).toMatchObject({ status: 'unavailable', storage: 'closed' })
    const health = await get(server.port, '/healthz')
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: 'ok' })
  })
})

describe('/metrics', () => {
  it('serves Prometheus text with the process metrics and zeroed Quire gauges', async () => {
    const server = await startServer()
    const response = await get(server.port, '/metrics')
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await response.text()
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m)
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m)
    expect(text).toContain('# TYPE quire_update_apply_seconds histogram')
    expect(sample(text, 'quire_connections')).toBe(0)
    expect(sample(text, 'quire_rooms_loaded')).toBe(0)
  })

  it('counts connections, rooms, messages, bytes, apply and write times from real traffic', async () => {
    const server = await startServer()
    const a = connect(server.url, 'counted')
    await synced(a)
    let text = await scrape(server)
    expect(sample(text, 'quire_connections')).toBe(1)
    expect(sample(text, 'quire_rooms_loaded')).toBe(1)
    expect(sample(text, 'quire_messages_received_total{type="sync-step1"}')).toBeGreaterThanOrEqual(1)
    expect(sample(text, 'quire_messages_sent_total{type="sync-step1"}')).toBe(1) // the server's own, on connect
    expect(sample(text, 'quire_messages_sent_total{type="sync-step2"}')).toBeGreaterThanOrEqual(1)
    const bytesBefore = sample(text, 'quire_received_bytes_total{type="update"}')

    a.doc.getText('t').insert(0, 'x'.repeat(500))
    await waitFor(async () => (await metric(server, 'quire_messages_sent_total{type="update"}')) >= 1, 'the echo of the edit')
    text = await scrape(server)
    expect(sample(text, 'quire_messages_received_total{type="update"}')).toBe(1)
    // The update carries the 500 inserted characters.
    expect(sample(text, 'quire_received_bytes_total{type="update"}') - bytesBefore).toBeGreaterThan(500)
    expect(sample(text, 'quire_sent_bytes_total{type="update"}')).toBeGreaterThan(500)
    // Every applied update is timed: the edit and the client's SyncStep2 (also an update).
    expect(sample(text, 'quire_update_apply_seconds_count')).toBe(1 + sample(text, 'quire_messages_received_total{type="sync-step2"}'))
    expect(sample(text, 'quire_storage_write_seconds_count')).toBe(1)
    expect(sample(text, 'quire_update_apply_seconds_sum')).toBeGreaterThan(0)

    // A second peer: the next edit is sent to two connections.
    const b = connect(server.url, 'counted')
    await synced(b)
    expect(await metric(server, 'quire_connections')).toBe(2)
    a.doc.getText('t').insert(0, 'y')
    await waitFor(() => b.doc.getText('t').toString().startsWith('y'), 'b to see the edit')
    await waitFor(async () => (await metric(server, 'quire_messages_sent_total{type="update"}')) === 3, 'two more update frames sent')

    a.destroy()
    b.destroy()
    await waitFor(async () => (await metric(server, 'quire_rooms_loaded')) === 0, 'the room to unload')
    text = await scrape(server)
    expect(sample(text, 'quire_connections')).toBe(0)
    expect(sample(text, 'quire_connections_opened_total{protocol="y-websocket"}')).toBe(2)
    // The compaction on unload commits after the room has left the registry.
    await waitFor(async () => (await metric(server, 'quire_compactions_total')) >= 1, 'the compaction on unload')
  })

  it('counts a bad frame as invalid and its close by code', async () => {
    const server = await startServer()
    const client = await rawClient(server.url, 'bad')
    client.send([0x80]) // truncated varint
    expect((await client.closed).code).toBe(1002)
    await waitFor(async () => (await metric(server, 'quire_connection_closes_total{code="1002"}')) === 1, 'the 1002 close counted')
    const text = await scrape(server)
    expect(sample(text, 'quire_messages_received_total{type="invalid"}')).toBe(1)
    expect(sample(text, 'quire_received_bytes_total{type="invalid"}')).toBe(1)

    const unnamed = await rawClient(server.url, '%E0%A4%A') // not valid percent-encoding
    expect((await unnamed.closed).code).toBe(4400)
    await waitFor(async () => (await metric(server, 'quire_connection_closes_total{code="4400"}')) === 1, 'the 4400 close counted')
  })

  it('counts storage errors and the 1011 closes they cause', async () => {
    const store = await LevelDocStore.open(await tempDir())
    const server = await startServer({ store })
    const a = connect(server.url, 'doomed')
    await synced(a)
    store.append = async () => {
      throw new Error('disk full')
    }
    a.doc.getText('t').insert(0, 'lost?')
    await waitFor(async () => (await metric(server, 'quire_storage_errors_total{operation="append"}')) === 1, 'the append error counted')
    await waitFor(async () => (await metric(server, 'quire_connection_closes_total{code="1011"}')) >= 1, 'the 1011 close counted')
    await server.close()
    await store.close()
  })

  it('keeps the metrics of two servers in one process apart', async () => {
    const one = await startServer()
    const two = await startServer()
    const a = connect(one.url, 'apart')
    await synced(a)
    a.doc.getText('t').insert(0, 'only on one')
    await waitFor(async () => (await metric(one, 'quire_messages_received_total{type="update"}')) === 1, 'the update on server one')
    const other = await scrape(two)
    expect(sample(other, 'quire_connections_opened_total{protocol="y-websocket"}')).toBe(0)
    expect(sample(other, 'quire_messages_received_total{type="update"}')).toBe(0)
    expect(other).toMatch(/^process_resident_memory_bytes \d/m) // process metrics on both
  })
})

describe('logs', () => {
  it('logs each connection opening (debug) and closing (info) with room, connection id, duration, bytes and code', async () => {
    const lines: Array<Record<string, unknown>> = []
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>)
        done()
      },
    })
    const server = await startServer({ logger: { level: 'debug', stream } })
    const a = connect(server.url, 'logged/doc')
    await synced(a)
    a.doc.getText('t').insert(0, 'hello')
    await waitFor(async () => (await metric(server, 'quire_messages_sent_total{type="update"}')) === 1, 'the echo')
    a.destroy()
    await waitFor(() => lines.some((l) => l.msg === 'connection closed'), 'the close line')

    const opened = lines.filter((l) => l.msg === 'connection opened')
    const closed = lines.filter((l) => l.msg === 'connection closed')
    expect(opened).toHaveLength(1)
    expect(closed).toHaveLength(1)
    expect(opened[0]).toMatchObject({ level: 20, room: 'logged/doc', conn: expect.any(String) })
    expect(closed[0]).toMatchObject({
      level: 30,
      room: 'logged/doc',
      conn: opened[0]!.conn,
      code: expect.any(Number),
      durationMs: expect.any(Number),
    })
    expect(closed[0]!.bytesIn as number).toBeGreaterThan(5)
    expect(closed[0]!.bytesOut as number).toBeGreaterThan(5)

    // Every other line about a connection carries the same fields.
    const client = await rawClient(server.url, 'logged/doc')
    client.send([7])
    await client.closed
    // The transport logs every refusal as `closing connection` with the catalogue's code (protocol/close-codes.ts).
    await waitFor(() => lines.some((l) => l.msg === 'closing connection'), 'the bad-frame warning')
    const warning = lines.find((l) => l.msg === 'closing connection')!
    expect(warning).toMatchObject({ level: 40, room: 'logged/doc', conn: expect.any(String), code: 'QUIRE_UNSUPPORTED_MESSAGE', closeCode: 1003 })
    expect(warning.conn).not.toBe(opened[0]!.conn)
  })
})
