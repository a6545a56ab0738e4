/**
 * The SSE transport with authentication: the stream needs read access (a token by header or
 * `?token=`), POSTing updates and awareness needs write access, a read-only token streams but
 * cannot write, and a stream ends with a 4401 `close` event when its token expires. Also the
 * SseProvider sends `params.token` the way each request needs it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { encodeAwarenessUpdate, Awareness } from 'y-protocols/awareness'
import { cleanup, startServer, waitFor, type TestServer } from './helpers.js'
import { SECRET, closeClients, providerWith, sign } from './auth-helpers.js'
import { expectError } from './rest-helpers.js'
import { closeSse, eventsUrl, openStream, postUpdate, sseProvider, sseSynced, syncOf, textUpdate, waitForText } from './sse-helpers.js'
import type { SseCloseEvent, SseConnectionError } from '../src/client/index.js'

afterEach(async () => {
  await cleanup()
  closeSse()
  closeClients()
})

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

function postAwareness(server: TestServer, name: string, stream: string, headers: Record<string, string>, clientId = 7): Promise<Response> {
  const awareness = new Awareness(new Y.Doc())
  awareness.clientID = clientId
  awareness.setLocalState({})
  awareness.setLocalState({ user: 'x' }) // clock 1: y-protocols never applies a remote state at clock 0
  const update = encodeAwarenessUpdate(awareness, [clientId])
  return fetch(`http://127.0.0.1:${server.port}/api/docs/${encodeURIComponent(name)}/awareness?stream=${stream}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', ...headers },
    body: update,
  })
}

describe('SSE with authentication', () => {
  it('401 without or with an invalid token, 403 for a forbidden document, in the REST error shape', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    await expectError(await fetch(eventsUrl(server, 'team-a/doc')), 401, /missing token/)
    await expectError(await fetch(eventsUrl(server, 'team-a/doc', 'token=nope')), 401, /invalid token/)
    await expectError(await fetch(eventsUrl(server, 'team-a/doc'), { headers: bearer('nope') }), 401, /invalid token/)
    await expectError(await fetch(eventsUrl(server, 'team-a/doc'), { headers: bearer(await sign({ expiresIn: -5 })) }), 401, /expired/)
    const other = await sign({ claims: { docs: { 'team-b/*': 'write' } } })
    await expectError(await fetch(eventsUrl(server, 'team-a/doc', `token=${other}`)), 403, /no read access/)
    expect(server.app.quire.registry.get('team-a/doc')).toBeUndefined() // nothing was loaded for them
  })

  it('a read-only token streams (by ?token= or header) but cannot POST updates or awareness', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const writer = await sign({ claims: { docs: { 'team-a/*': 'write' } } })
    const reader = await sign({ claims: { docs: { 'team-a/*': 'read' } } })
    expect((await postUpdate(server, 'team-a/doc', textUpdate('hello'), bearer(writer))).status).toBe(200)

    const byQuery = await openStream(eventsUrl(server, 'team-a/doc', `token=${reader}`))
    expect(byQuery.status).toBe(200)
    const sync = syncOf(await byQuery.next((e) => e.event === 'sync', 'sync'))
    const byHeader = await openStream(eventsUrl(server, 'team-a/doc'), bearer(reader))
    await byHeader.next((e) => e.event === 'sync', 'sync by header')

    await expectError(await postUpdate(server, 'team-a/doc', textUpdate('nope'), bearer(reader)), 403, /no write access/)
    await expectError(await postAwareness(server, 'team-a/doc', sync.stream, bearer(reader)), 403, /no write access/)
    await expectError(await postAwareness(server, 'team-a/doc', `${sync.stream}&token=${reader}`, {}), 403, /no write access/)
    // A writer may announce presence for its own stream; a wrong stream id is a 404.
    const writing = await openStream(eventsUrl(server, 'team-a/doc', `token=${writer}`))
    const own = syncOf(await writing.next((e) => e.event === 'sync', 'writer sync')).stream
    expect((await postAwareness(server, 'team-a/doc', own, bearer(writer))).status).toBe(204)
    await byQuery.next((e) => e.event === 'awareness', 'the writer\'s presence at the read-only stream')
    await expectError(await postAwareness(server, 'team-a/doc', 'not-a-stream', bearer(writer)), 404, /no open event stream/)
    await expectError(await postAwareness(server, 'team-a/other', own, bearer(writer)), 404, /no open event stream/)

    // Updates still reach the read-only streams.
    expect((await postUpdate(server, 'team-a/doc', textUpdate(' world'), bearer(writer))).status).toBe(200)
    await byQuery.next((e) => e.event === 'update', 'an update at the read-only stream')
  })

  it('the SseProvider sends params.token on the stream and its POSTs; a read-only one reports its refused edits', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const writer = await sign({ claims: { docs: { 'team-a/*': 'write' } } })
    const reader = await sign({ claims: { docs: { 'team-a/*': 'read' } } })
    const ws = providerWith(server.url, 'team-a/doc', writer)
    const editing = sseProvider(server, 'team-a/doc', new Y.Doc(), { params: { token: writer } })
    const reading = sseProvider(server, 'team-a/doc', new Y.Doc(), { params: { token: reader } })
    const refused: SseConnectionError[] = []
    reading.on('connection-error', (e) => refused.push(e))
    await Promise.all([sseSynced(editing), sseSynced(reading)])

    editing.doc.getText('t').insert(0, 'by sse')
    await waitForText(ws.doc, 'by sse', 'the writer\'s edit over WebSocket')
    await waitForText(reading.doc, 'by sse', 'the writer\'s edit at the reader')
    editing.awareness.setLocalStateField('user', { name: 'Ada' })
    await waitFor(() => ws.awareness.getStates().has(editing.doc.clientID), 'the writer\'s presence')

    reading.doc.getText('t').insert(0, 'sneaky ')
    await waitFor(() => refused.some((e) => e.request === 'update' && e.status === 403), 'the refused update')
    expect(server.app.quire.registry.get('team-a/doc')!.doc.getText('t').toString()).toBe('by sse')
    expect(reading.synced).toBe(true) // still streaming
  })

  it('a stream ends with a 4401 close event when its token expires, and the provider stops', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const token = await sign({ claims: { docs: { '*': 'write' } }, expiresIn: 2 })
    const provider = sseProvider(server, 'expiring', new Y.Doc(), { params: { token } })
    const closes: SseCloseEvent[] = []
    provider.on('connection-close', (e) => closes.push(e))
    const stopped = new Promise<SseCloseEvent>((resolve) => provider.on('closed', resolve))
    await sseSynced(provider)
    const close = await stopped
    expect(close).toMatchObject({ code: 4401, error: 'QUIRE_UNAUTHORIZED', reason: 'token expired' })
    expect(provider.shouldConnect).toBe(false)
    expect(provider.synced).toBe(false)
    // A provider whose token is refused outright stops too, with the HTTP status as a 44xx code.
    const bad = sseProvider(server, 'expiring', new Y.Doc(), { params: { token: 'nope' } })
    const refused = await new Promise<SseCloseEvent>((resolve) => bad.on('closed', resolve))
    expect(refused).toMatchObject({ code: 4401, reason: 'invalid token' })
    expect(closes).toHaveLength(1)
  })
})
