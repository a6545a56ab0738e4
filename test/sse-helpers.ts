/**
 * SSE test harness: a raw event-stream reader over fetch (its own small parser, independent of
 * the client's), and SseProviders that are destroyed on cleanup.
 */
import { get as httpGet, type IncomingMessage } from 'node:http'
import * as Y from 'yjs'
import { SseProvider, type SseProviderOptions } from '../src/client/index.js'
import { waitFor, withTimeout, type TestServer } from './helpers.js'

export interface StreamEvent {
  event: string
  data: string
  /** The `id:` of this event, if it had one. */
  id?: string
}

export interface RawStream {
  status: number
  headers: Headers
  /** Every event so far (comments and `retry:` blocks are skipped). */
  events: StreamEvent[]
  /** The raw text received. */
  text(): string
  /** Resolves with the first event (from `from` on) matching `match`. */
  next(match: (e: StreamEvent) => boolean, what: string, from?: number): Promise<StreamEvent>
  /** Resolves when the server ended the response (or it failed). */
  ended: Promise<void>
  close(): void
}

const streams: RawStream[] = []
const providers: SseProvider[] = []

/** Closes this file's raw streams and providers. Call in afterEach, after the servers closed. */
export function closeSse(): void {
  for (const stream of streams.splice(0)) stream.close()
  for (const provider of providers.splice(0)) {
    provider.destroy()
    provider.doc.destroy()
  }
}

export const eventsUrl = (server: TestServer, name: string, query = '') =>
  `http://127.0.0.1:${server.port}/api/docs/${encodeURIComponent(name)}/events${query ? `?${query}` : ''}`

/**
 * Opens `…/events` and records its events; resolves once the response headers are in. Over
 * node:http on a socket of its own: closing an undici fetch mid-stream leaves undici opening a
 * spare connection, which a closing server then waits on for seconds.
 */
export async function openStream(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const request = httpGet(url, { headers, agent: false })
  request.on('error', () => {})
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', resolve)
    request.once('error', reject)
  })
  response.on('error', () => {})
  const events: StreamEvent[] = []
  let raw = ''
  let buffer = ''
  let done = false
  const waiters = new Set<() => void>()
  const wake = () => {
    for (const w of [...waiters]) w()
  }
  response.setEncoding('utf8')
  response.on('data', (text: string) => {
    raw += text
    buffer += text
    let end: number
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const fields: Record<string, string> = {}
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue
        const colon = line.indexOf(': ')
        if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 2)
      }
      if (fields.data !== undefined) events.push({ event: fields.event ?? 'message', data: fields.data, ...(fields.id !== undefined && { id: fields.id }) })
    }
    wake()
  })
  const ended = new Promise<void>((resolve) => {
    const finish = () => {
      done = true
      wake()
      resolve()
    }
    response.once('end', finish)
    response.once('close', finish)
  })
  const responseHeaders = new Headers()
  for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) responseHeaders.set(name, [value].flat().join(', '))
  const stream: RawStream = {
    status: response.statusCode ?? 0,
    headers: responseHeaders,
    events,
    text: () => raw,
    ended,
    close: () => void request.destroy(),
    next: (match, what, from = 0) =>
      withTimeout(
        new Promise<StreamEvent>((resolve, reject) => {
          const check = () => {
            const found = events.slice(from).find(match)
            if (found) {
              waiters.delete(check)
              resolve(found)
            } else if (done) {
              waiters.delete(check)
              reject(new Error(`stream ended before ${what}`))
            }
          }
          waiters.add(check)
          check()
        }),
        10_000,
        what,
      ),
  }
  streams.push(stream)
  return stream
}

export interface SyncData {
  stream: string
  seq: number
  stateVector: string
  update?: string
  resumed?: true
}

export const syncOf = (e: StreamEvent) => JSON.parse(e.data) as SyncData
export const bytes = (base64: string) => new Uint8Array(Buffer.from(base64, 'base64'))

/** A doc from a stream's events: the sync's update and every update event. */
export function docOf(events: StreamEvent[], into = new Y.Doc()): Y.Doc {
  for (const e of events) {
    if (e.event === 'sync') {
      const update = syncOf(e).update
      if (update) Y.applyUpdate(into, bytes(update))
    } else if (e.event === 'update') Y.applyUpdate(into, bytes(e.data))
  }
  return into
}

/** An SseProvider (Node) of `server`, destroyed by closeSse(). */
export function sseProvider(server: TestServer, room: string, doc = new Y.Doc(), options: SseProviderOptions = {}): SseProvider {
  const provider = new SseProvider(`http://127.0.0.1:${server.port}`, room, doc, { maxBackoffTime: 300, ...options })
  providers.push(provider)
  return provider
}

/** Resolves at the provider's next `sync(true)` (at once if synced). */
export function sseSynced(provider: SseProvider, timeoutMs = 10_000): Promise<void> {
  if (provider.synced) return Promise.resolve()
  return withTimeout(
    new Promise<void>((resolve) => {
      const onSync = (state: boolean) => {
        if (!state) return
        provider.off('sync', onSync)
        resolve()
      }
      provider.on('sync', onSync)
    }),
    timeoutMs,
    'SseProvider sync',
  )
}

/** An update inserting `text` at the end of `t` of a fresh doc (its own client id). */
export function textUpdate(text: string, doc = new Y.Doc()): Uint8Array {
  let update: Uint8Array | null = null
  const listen = (u: Uint8Array) => (update = u)
  doc.on('update', listen)
  doc.getText('t').insert(doc.getText('t').length, text)
  doc.off('update', listen)
  return update!
}

export function postUpdate(server: TestServer, name: string, update: Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${server.port}/api/docs/${encodeURIComponent(name)}/update`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', ...headers },
    body: update,
  })
}

export async function waitForText(doc: Y.Doc, text: string, what: string): Promise<void> {
  await waitFor(() => doc.getText('t').toString() === text, `${what}: ${JSON.stringify(text)} (have ${JSON.stringify(doc.getText('t').toString())})`)
}
