/**
 * REST writes: POST update as a server edit (relayed, stored, durable before the answer) and
 * DELETE (connections closed with 4404, storage gone, the name starts over empty).
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import type { WebsocketProvider } from 'y-websocket'
import { cleanup, connect, startServer, synced, waitFor, withTimeout } from './helpers.js'
import { base64url, docFrom, docUrl, expectError, getBytes, getJson, httpUrl, postJson, postUpdate, writeAllKinds } from './rest-helpers.js'

afterEach(cleanup)

/** Resolves with the code of the provider's terminal close (y-websocket's 'closed' event). */
function terminalClose(provider: WebsocketProvider): Promise<{ code: number; reason: string }> {
  return withTimeout(
    new Promise((resolve) => provider.once('closed', (event: { code: number; reason: string }) => resolve(event))),
    10_000,
    'the provider to close for good',
  )
}

describe('POST /api/docs/:name/update', () => {
  it('reaches live providers as a server edit and survives a restart', async () => {
    const server = await startServer()
    const writer = connect(server.url, 'shared')
    const watcher = connect(server.url, 'shared')
    await Promise.all([synced(writer), synced(watcher)])
    writer.doc.getText('text').insert(0, 'Typed by a person. ')
    await waitFor(() => watcher.doc.getText('text').length > 0, 'the person’s edit to arrive')

    // A backend edits a copy of the current state and posts only what it changed.
    const backend = docFrom(await getBytes(docUrl(server, 'shared', '/update')))
    const before = Y.encodeStateVector(backend)
    backend.getText('text').insert(backend.getText('text').length, 'Added by a backend.')
    backend.getMap('map').set('reviewed', true)
    const response = await postUpdate(docUrl(server, 'shared', '/update'), Y.encodeStateAsUpdate(backend, before))
    expect(response.status).toBe(200)
    expect(((await response.json()) as { stateVector: string }).stateVector).toBe(base64url(Y.encodeStateVector(backend)))

    const expected = 'Typed by a person. Added by a backend.'
    for (const provider of [writer, watcher]) {
      await waitFor(() => provider.doc.getText('text').toString() === expected, 'the server edit to reach every provider')
      expect(provider.doc.getMap('map').get('reviewed')).toBe(true)
    }
    expect(server.app.quire.registry.connections('shared')).toBe(2) // the edit's hold is gone

    writer.destroy()
    watcher.destroy()
    await server.close()
    const restarted = await startServer({ dataDir: server.dataDir })
    const reader = connect(restarted.url, 'shared')
    await synced(reader)
    expect(reader.doc.getText('text').toString()).toBe(expected)
    expect(reader.doc.getMap('map').get('reviewed')).toBe(true)
  })

  it('accepts update v2, creates an unknown document, and lets the room unload afterwards', async () => {
    const server = await startServer()
    const source = new Y.Doc()
    writeAllKinds(source, 'fresh')
    const response = await postUpdate(docUrl(server, 'new/doc', '/update?encoding=v2'), Y.encodeStateAsUpdateV2(source))
    expect(response.status).toBe(200)
    await waitFor(() => server.app.quire.registry.size === 0, 'the room loaded for the edit to unload')
    expect(await getJson(docUrl(server, 'new/doc', '/json?key=text'))).toBe('fresh text. ')
    expect(await getJson(docUrl(server, 'new/doc', '/json?key=map'))).toEqual({ fresh: { n: 5 } })
    expect(await getJson(docUrl(server, 'new/doc'))).toMatchObject({ updates: 1, loaded: false })

    // The same bytes again change nothing and still answer 200.
    const again = await postUpdate(docUrl(server, 'new/doc', '/update?encoding=v2'), Y.encodeStateAsUpdateV2(source))
    expect(again.status).toBe(200)
    await waitFor(() => server.app.quire.registry.size === 0, 'the room to unload again')
    expect(await getJson(docUrl(server, 'new/doc'))).toMatchObject({ updates: 1 })
  })

  it('refuses updates Yjs could not integrate completely with 400 and changes nothing, then accepts edits as before', async () => {
    const server = await startServer()
    // A live provider keeps the room loaded: whatever a refused update left behind would stay.
    const watcher = connect(server.url, 'gaps')
    await synced(watcher)
    const url = docUrl(server, 'gaps', '/update')
    const author = new Y.Doc()
    expect((await postUpdate(url, change(author, (t) => t.insert(0, 'one ')))).status).toBe(200)
    const second = change(author, (t) => t.insert(4, 'two ')) // held back for now
    const third = change(author, (t) => t.insert(8, 'three'))

    // Content of a client the document never hears of, and edits that build on it.
    const stranger = new Y.Doc()
    stranger.getText('text').insert(0, 'STRANGER')
    const helper = new Y.Doc()
    Y.applyUpdate(helper, Y.encodeStateAsUpdate(stranger))
    const afterStranger = change(helper, (t) => t.insert(3, 'X'))
    const deleteOfStranger = change(helper, (t) => t.delete(0, 2))

    const refused = {
      'a gap (the second update skipped)': third,
      'an origin in unknown content': afterStranger,
      'a delete of unknown content': deleteOfStranger,
      // Valid text of one client, then an item pointing into its own client's future: Yjs
      // would integrate the first and throw on the second, leaving the first in.
      'an item referring to its own future': ownFutureReference('HALFWAY'),
    }
    for (const [what, update] of Object.entries(refused)) {
      await expectError(await postUpdate(url, update), 400, /^update depends on changes this document does not have: /)
      expect(await getJson(docUrl(server, 'gaps', '/json?key=text')), what).toBe('one ')
    }

    expect((await postUpdate(url, second)).status).toBe(200)
    expect((await postUpdate(url, third)).status).toBe(200) // refused before, complete now
    const exported = docFrom(await getBytes(url))
    expect(exported.getText('text').toString()).toBe('one two three')
    expect([...Y.decodeStateVector(Y.encodeStateVector(exported)).keys()]).toEqual([author.clientID])
    await waitFor(() => watcher.doc.getText('text').toString() === 'one two three', 'the accepted edits to reach the provider')
  })
})

describe('DELETE /api/docs/:name', () => {
  it('closes live providers with 4404 for good, removes storage and versions; the name starts over empty', async () => {
    const server = await startServer()
    const providers = [connect(server.url, 'doomed'), connect(server.url, 'doomed')]
    await Promise.all(providers.map((p) => synced(p)))
    providers[0]!.doc.getText('text').insert(0, 'old content')
    await waitFor(() => providers[1]!.doc.getText('text').length > 0, 'the edit to be relayed')
    expect((await postJson(docUrl(server, 'doomed', '/versions'), { label: 'v1' })).status).toBe(201)
    const bystander = connect(server.url, 'bystander')
    await synced(bystander)

    const closes = providers.map(terminalClose)
    const response = await fetch(docUrl(server, 'doomed'), { method: 'DELETE' })
    expect(response.status).toBe(204)
    for (const close of await Promise.all(closes)) expect(close).toEqual({ code: 4404, reason: 'document deleted' })
    for (const provider of providers) expect(provider.shouldConnect).toBe(false) // y-websocket will not reconnect
    expect(bystander.wsconnected).toBe(true)

    await expectError(await fetch(docUrl(server, 'doomed')), 404)
    await expectError(await fetch(docUrl(server, 'doomed', '/update')), 404)
    await expectError(await fetch(docUrl(server, 'doomed', '/versions/1')), 404)
    expect((await getJson<{ docs: Array<{ name: string }> }>(httpUrl(server, '/api/docs'))).docs.map((d) => d.name)).toEqual([])
    await expectError(await fetch(docUrl(server, 'doomed'), { method: 'DELETE' }), 404)

    // A new client of the same name gets an empty document, not the old content, and no old version.
    const fresh = connect(server.url, 'doomed')
    await synced(fresh)
    expect(fresh.doc.getText('text').toString()).toBe('')
    fresh.doc.getText('text').insert(0, 'new life')
    await waitFor(async () => (await fetch(docUrl(server, 'doomed', '/text?key=text')).then((r) => r.text())) === 'new life', 'the new content')
    expect(await getJson(docUrl(server, 'doomed', '/versions'))).toEqual({ versions: [] })

    // Across a restart too.
    fresh.destroy()
    await server.close()
    const restarted = await startServer({ dataDir: server.dataDir })
    expect(await getJson(docUrl(restarted, 'doomed', '/json'))).toEqual({ text: 'new life' })
  })

  it('deletes a document only in storage; reads and joins that arrive meanwhile wait and find it gone', async () => {
    const server = await startServer()
    const source = new Y.Doc()
    source.getText('text').insert(0, 'stored only')
    expect((await postUpdate(docUrl(server, 'cold', '/update'), Y.encodeStateAsUpdate(source))).status).toBe(200)
    await waitFor(() => server.app.quire.registry.size === 0, 'the room to unload')

    const { registry } = server.app.quire
    const deleting = registry.delete('cold')
    const reading = registry.read('cold', (doc) => doc.getText('text').toString())
    expect(await deleting).toBe(true)
    expect(await reading).toBeUndefined()
    await expectError(await fetch(docUrl(server, 'cold')), 404)

    expect((await postUpdate(docUrl(server, 'cold', '/update'), Y.encodeStateAsUpdate(source))).status).toBe(200)
    await waitFor(() => server.app.quire.registry.size === 0, 'the room to unload')
    const peer = { id: 'test', send: () => {}, close: () => {} }
    const deletingAgain = registry.delete('cold')
    const joining = registry.join('cold', peer)
    expect(await deletingAgain).toBe(true)
    const room = await joining
    expect(room.doc.getText('text').toString()).toBe('')
    room.leave(peer)
  })
})

/** The update `edit` makes to `doc`'s text 'text'. */
function change(doc: Y.Doc, edit: (text: Y.Text) => void): Uint8Array {
  const before = Y.encodeStateVector(doc)
  edit(doc.getText('text'))
  return Y.encodeStateAsUpdate(doc, before)
}

/**
 * Two clients' items in one update (v1, written by hand): `text` at the start of 'text' by the
 * client Yjs integrates first (the higher id), then an item of client 5 whose origin is 5:10,
 * a clock client 5 has not written.
 */
function ownFutureReference(text: string): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 2) // two clients
  encoding.writeVarUint(e, 1) // one struct
  encoding.writeVarUint(e, 999_999) // client
  encoding.writeVarUint(e, 0) // clock
  encoding.writeUint8(e, 4) // string item without origins: the parent follows
  encoding.writeVarUint(e, 1) // parent given by root name
  encoding.writeVarString(e, 'text')
  encoding.writeVarString(e, text)
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, 5)
  encoding.writeVarUint(e, 0)
  encoding.writeUint8(e, 4 | 0b1000_0000) // string item with an origin
  encoding.writeVarUint(e, 5)
  encoding.writeVarUint(e, 10)
  encoding.writeVarString(e, 'x')
  encoding.writeVarUint(e, 0) // empty delete set
  return encoding.toUint8Array(e)
}
