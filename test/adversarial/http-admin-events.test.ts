/**
 * The dashboard's event stream (http/admin-feed.ts) is bounded: in lifetime (it ends when the
 * admin token that opened it expires), in number (503 past the cap) and in memory (a client that
 * stops reading is dropped rather than buffered without end), and a client that resets its
 * connection mid-stream is only a closed stream, not an unheard 'error'.
 */
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, startServer, waitFor, withTimeout } from '../helpers.js'
import { SECRET, sign } from '../auth-helpers.js'
import { expectError, httpUrl } from '../rest-helpers.js'
import { DEFAULT_MAX_ADMIN_STREAMS, serveAdminEvents, type AdminSnapshot } from '../../src/http/admin-feed.js'

const apps: FastifyInstance[] = []
const sockets: Socket[] = []
const aborts: AbortController[] = []
afterEach(async () => {
  for (const abort of aborts.splice(0)) abort.abort()
  for (const socket of sockets.splice(0)) socket.destroy()
  for (const app of apps.splice(0)) await app.close()
  await cleanup()
})

/** Opens an event stream with fetch and reads it to its end; `events` are the raw SSE messages. */
async function openStream(url: string) {
  const abort = new AbortController()
  aborts.push(abort)
  const response = await fetch(url, { signal: abort.signal })
  const messages: string[] = []
  const ended = (async () => {
    if (!response.body) return
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true })
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        messages.push(buffer.slice(0, end))
        buffer = buffer.slice(end + 2)
      }
    }
  })().then(
    () => Date.now(),
    () => Date.now(), // aborted by the test
  )
  return { response, messages, ended, abort: () => abort.abort() }
}

/** A bare Fastify app serving only the event stream, fed `bytes`-sized snapshots every `intervalMs`. */
async function feedApp(options: { bytes: number; intervalMs: number; maxBufferedBytes?: number; log?: string[] }) {
  const logger = options.log ? { level: 'warn', stream: { write: (line: string) => void options.log!.push(line) } } : false
  const app = Fastify({ logger })
  apps.push(app)
  const padding = 'x'.repeat(options.bytes)
  const feed = { snapshot: async () => ({ at: Date.now(), padding }) as unknown as AdminSnapshot }
  serveAdminEvents(app, '/events', feed, { intervalMs: options.intervalMs, maxBufferedBytes: options.maxBufferedBytes })
  app.get('/healthz', async () => ({ status: 'ok' }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, port: (app.server.address() as AddressInfo).port }
}

/** A raw client that sends the request, waits for the response head, then never reads again. */
async function stalledStream(port: number): Promise<Socket> {
  const socket = tcpConnect(port, '127.0.0.1')
  sockets.push(socket)
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
  await new Promise<void>((resolve) => socket.once('data', () => resolve()))
  socket.pause()
  return socket
}

const connections = (app: FastifyInstance) => new Promise<number>((resolve, reject) => app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))))

describe('admin event stream', () => {
  it('ends when the admin token that opened it expires, with an "expired" event', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    // exp has whole-second precision: 2 s leaves at least 1 s of validity for the request itself.
    const token = await sign({ claims: { role: 'admin' }, expiresIn: 2 })
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp as number
    const stream = await openStream(httpUrl(server, `/admin/events?token=${token}`))
    expect(stream.response.status).toBe(200)
    await waitFor(() => stream.messages.some((m) => m.startsWith('data: {')), 'the first snapshot')
    const endedAt = await withTimeout(stream.ended, 10_000, 'the stream to end at expiry')
    expect(endedAt).toBeGreaterThanOrEqual(exp * 1000 - 50) // not before (timers may fire a little early)
    expect(stream.messages.at(-1)).toBe('event: expired\ndata: token expired')
    // Reconnecting with the same token (what EventSource does) is refused now.
    await expectError(await fetch(httpUrl(server, `/admin/events?token=${token}`)), 401, /token expired/)
  })

  it(`answers 503 past ${DEFAULT_MAX_ADMIN_STREAMS} open streams, and admits again once one closes`, async () => {
    const server = await startServer()
    const url = httpUrl(server, '/admin/events')
    const open = []
    for (let i = 0; i < DEFAULT_MAX_ADMIN_STREAMS; i++) {
      const stream = await openStream(url)
      expect(stream.response.status, `stream ${i + 1}`).toBe(200)
      open.push(stream)
    }
    await expectError(await fetch(url), 503, /dashboard streams are open already/)
    open[0]!.abort()
    // The server learns of the close asynchronously: retry until the freed place is seen.
    let next: Awaited<ReturnType<typeof openStream>> | undefined
    await waitFor(async () => {
      const attempt = await openStream(url)
      if (attempt.response.status === 200) next = attempt
      else await attempt.response.arrayBuffer()
      return next !== undefined
    }, 'a stream admitted after one closed')
    await expectError(await fetch(url), 503)
  })

  it('drops a client that stopped reading once its backlog passes the bound; a reading one stays', async () => {
    const log: string[] = []
    const { app, port } = await feedApp({ bytes: 32 * 1024, intervalMs: 10, maxBufferedBytes: 1024 * 1024, log })
    const reader = await openStream(`http://127.0.0.1:${port}/events`)
    await stalledStream(port)
    // Kernel buffers fill first; then the server-side backlog grows past 1 MiB and the stream is cut.
    await waitFor(() => log.some((line) => line.includes('admin event stream not reading; dropped')), 'the stalled stream dropped', 20_000)
    await waitFor(async () => (await connections(app)) === 1, 'only the reading client connected')
    const received = reader.messages.length
    await waitFor(() => reader.messages.length > received + 10, 'the reading client to keep receiving')
    expect(log.filter((line) => line.includes('dropped'))).toHaveLength(1)
  })

  it('clients resetting mid-stream leave the server serving', async () => {
    const { app, port } = await feedApp({ bytes: 16 * 1024, intervalMs: 5 })
    for (let i = 0; i < 20; i++) {
      const socket = await stalledStream(port)
      socket.resetAndDestroy() // RST: the server's next write fails (EPIPE / ECONNRESET)
    }
    await waitFor(async () => (await connections(app)) === 0, 'every reset stream closed')
    const health = await fetch(`http://127.0.0.1:${port}/healthz`)
    expect(health.status).toBe(200)
  })
})
