/**
 * Hostile input over the Hocuspocus framing, written by hand because no provider sends it:
 * unreadable addresses, bad names, frames for a document before its auth, a thousand documents
 * on one socket, a bad update on one document among others. Each fault closes what it belongs
 * to — the socket, or one document — and nothing else.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'
import { SECRET, sign } from './auth-helpers.js'
import { metric } from './metrics-helpers.js'
import { authAnswer, authFrame, closeHocuspocusClients, hpFrame, hpProvider, hpSocket, hpSynced, rawHocuspocus, syncStep1Frame, text, updateFrame } from './hocuspocus-helpers.js'

afterEach(async () => {
  closeHocuspocusClients()
  await cleanup()
})

function edit(content: string): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, content)
  return Y.encodeStateAsUpdate(doc)
}

describe('faults of the socket close the socket', () => {
  it('an address that cannot be read closes with 1002; a bad document name with 4400; a text frame with 1003', async () => {
    const server = await startServer()
    const bystander = hpProvider(hpSocket(server.url), 'bystander')
    await hpSynced(bystander)

    const truncated = await rawHocuspocus(server.url)
    truncated.send(Uint8Array.from([0xff, 0xff, 0x03, 0x61])) // a 65535-byte address in a 4-byte frame
    expect(await truncated.closed).toMatchObject({ code: 1002, reason: expect.stringMatching(/address/) })

    const control = await rawHocuspocus(server.url)
    control.send(authFrame('bad\u0001name', ''))
    expect(await control.closed).toMatchObject({ code: 4400, reason: expect.stringMatching(/control characters/) })

    const textual = await rawHocuspocus(server.url)
    textual.ws.send('hello')
    expect((await textual.closed).code).toBe(1003)

    const y = connect(server.url, 'bystander')
    await synced(y)
    y.doc.getText('t').insert(0, 'unharmed')
    await waitFor(() => text(bystander) === 'unharmed', 'the other socket is unaffected')
  })

  it('a flood past the message rate closes the socket with 1008', async () => {
    const server = await startServer({ limits: { messageBurst: 20, messagesPerSecond: 10 } })
    const raw = await rawHocuspocus(server.url)
    for (let i = 0; i < 40; i++) raw.send(authFrame(`doc-${i % 3}`, ''))
    expect((await raw.closed).code).toBe(1008)
  })
})

describe('faults of one document close that document only', () => {
  it('an invalid update closes its document with a Close message; the socket and its other document go on', async () => {
    const server = await startServer()
    const raw = await rawHocuspocus(server.url)
    for (const name of ['good', 'bad']) {
      raw.send(authFrame(name, ''))
      raw.send(syncStep1Frame(name))
    }
    await waitFor(() => raw.of('good', 2).length === 1 && raw.of('bad', 2).length === 1, 'both authenticated')
    raw.send(updateFrame('bad', Uint8Array.from([1, 2, 3, 250, 250])))
    await waitFor(() => raw.of('bad', 7).length === 1, 'a Close for the bad document')
    const reason = decoding.readVarString(raw.of('bad', 7)[0]!.decoder)
    expect(reason).toMatch(/^QUIRE_INVALID_UPDATE: /)
    raw.send(updateFrame('good', edit('fine')))
    await waitFor(() => raw.of('good', 8).length >= 1, 'the good document acknowledged its update')
    expect(raw.ws.readyState).toBe(raw.ws.OPEN)
    expect((await server.app.quire.store.info('good'))?.seq).toBe(1)
    expect(await server.app.quire.store.info('bad')).toBeNull()
  })

  it('frames sent before the auth wait for it, and are dropped with it when it fails', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const raw = await rawHocuspocus(server.url)
    raw.send(updateFrame('early', edit('before auth')))
    raw.send(updateFrame('refused', edit('never')))
    const watcher = connect(server.url, 'early') // y-websocket, unauthenticated: refused, and must see nothing either
    expect(await server.app.quire.store.info('early')).toBeNull()
    raw.send(authFrame('refused', await sign({ claims: { docs: { early: 'write' } } })))
    raw.send(authFrame('early', await sign({ claims: { docs: { early: 'write' } } })))
    await waitFor(() => raw.of('early', 8).length === 1, 'the queued update applied after the auth, then acknowledged')
    expect(authAnswer(raw.of('early', 2)[0]!)).toEqual({ authenticated: 'read-write' })
    expect(authAnswer(raw.of('refused', 2)[0]!)).toEqual({ denied: 'no access to this document' })
    expect((await server.app.quire.store.info('early'))?.seq).toBe(1)
    expect(await server.app.quire.store.info('refused')).toBeNull()
    expect(watcher.doc.getText('t').toString()).toBe('')
  })

  it('a thousand documents on one socket: the cap admits 100, refuses the rest by permission-denied, and keeps serving', async () => {
    const server = await startServer()
    const raw = await rawHocuspocus(server.url)
    for (let i = 0; i < 1000; i++) raw.send(authFrame(`many-${i}`, ''))
    await waitFor(() => raw.frames.filter((f) => f.type === 2).length === 1000, 'every auth answered', 20_000)
    const answers = raw.frames.filter((f) => f.type === 2).map(authAnswer)
    expect(answers.filter((a) => 'authenticated' in a)).toHaveLength(100)
    expect(answers.filter((a) => 'denied' in a).every((a) => 'denied' in a && /more than 100 documents/.test(a.denied))).toBe(true)
    await waitFor(() => server.app.quire.registry.size === 100, 'the admitted documents loaded')
    expect(await metric(server, 'quire_connection_errors_total{code="QUIRE_TOO_MANY_DOCUMENTS"}')).toBe(900)
    raw.send(updateFrame('many-7', edit('still works')))
    await waitFor(() => raw.of('many-7', 8).length === 1, 'an admitted document still writes')
    // Closing one frees a place for another.
    raw.send(hpFrame('many-0', 7))
    raw.send(authFrame('late', ''))
    await waitFor(() => raw.of('late', 2).length === 1, 'the late document answered')
    expect(authAnswer(raw.of('late', 2)[0]!)).toEqual({ authenticated: 'read-write' })
  })

  it('the pre-auth queue is bounded per socket, not per document', async () => {
    const server = await startServer({ limits: { maxQueuedMessages: 50 } })
    const raw = await rawHocuspocus(server.url)
    // 30 documents × 2 frames each, none authenticated: more than 50 frames wait on the socket.
    for (let i = 0; i < 30; i++) for (let j = 0; j < 2; j++) raw.send(updateFrame(`q-${i}`, edit(`x${j}`)))
    expect((await raw.closed).code).toBe(1008)
    expect(server.app.quire.registry.size).toBe(0)
  })
})
