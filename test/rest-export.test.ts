/**
 * REST reads: full and diff export (v1/v2), state vector, metadata and listing, against documents
 * live in a room and documents only in storage, with names that need percent-encoding.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { LevelDocStore } from '../src/index.js'
import { cleanup, connect, startServer, synced, waitFor, type TestServer } from './helpers.js'
import { base64url, contentOf, docFrom, docUrl, getBytes, getJson, httpUrl, postUpdate, writeAllKinds } from './rest-helpers.js'

afterEach(cleanup)
afterEach(() => {
  vi.restoreAllMocks()
})

interface DocumentBody {
  name: string
  updates: number
  bytes: number
  loaded: boolean
  connections: number
  quotaBytes?: number
  createdAt?: string
}

/** Waits until the server's state vector for `name` equals `doc`'s: it holds everything `doc` has. */
async function caughtUp(server: TestServer, name: string, doc: Y.Doc): Promise<void> {
  const expected = base64url(Y.encodeStateVector(doc))
  await waitFor(async () => {
    const response = await fetch(docUrl(server, name, '/state-vector'))
    return response.ok && ((await response.json()) as { stateVector: string }).stateVector === expected
  }, 'the server to hold everything the client has')
}

describe('REST export', () => {
  it('exports what a connected client holds, from the room and from storage alike, and leaves no room behind', async () => {
    const server = await startServer()
    const name = 'team-a/spec ü'
    const provider = connect(server.url, name)
    await synced(provider)
    writeAllKinds(provider.doc, 'one')
    writeAllKinds(provider.doc, 'two')
    provider.doc.getText('text').delete(0, 4)
    provider.doc.getMap('map').delete('one')
    await caughtUp(server, name, provider.doc)
    const expected = contentOf(provider.doc)
    const expectedSv = Y.encodeStateVector(provider.doc)

    // Loaded: read from the room.
    const live = docFrom(await getBytes(docUrl(server, name, '/update')))
    expect(contentOf(live)).toEqual(expected)
    expect(Y.encodeStateVector(live)).toEqual(expectedSv)
    expect(contentOf(docFrom(await getBytes(docUrl(server, name, '/update?encoding=v2')), true))).toEqual(expected)

    provider.destroy()
    await waitFor(() => server.app.quire.registry.size === 0, 'the room to unload')
    const loads = server.app.quire.registry.loads

    // Not loaded: read from storage into a scratch doc, no room created.
    const cold = docFrom(await getBytes(docUrl(server, name, '/update')))
    expect(contentOf(cold)).toEqual(expected)
    expect(Y.encodeStateVector(cold)).toEqual(expectedSv)
    expect(contentOf(docFrom(await getBytes(docUrl(server, name, '/update?encoding=v2')), true))).toEqual(expected)
    const sv = await getJson<{ stateVector: string; clocks: Record<string, number> }>(docUrl(server, name, '/state-vector'))
    expect(sv.stateVector).toBe(base64url(expectedSv))
    expect(sv.clocks).toEqual({ [String(provider.doc.clientID)]: Y.getState(cold.store, provider.doc.clientID) })
    expect(server.app.quire.registry.size).toBe(0)
    expect(server.app.quire.registry.loads).toBe(loads)
  })

  it('exports by state vector only what a stale copy lacks; applied, the copy equals the client', async () => {
    const server = await startServer()
    const provider = connect(server.url, 'diffed')
    await synced(provider)
    for (let i = 0; i < 20; i++) writeAllKinds(provider.doc, `early ${i}`)
    const stale = new Y.Doc()
    Y.applyUpdate(stale, Y.encodeStateAsUpdate(provider.doc))
    const staleV2 = new Y.Doc()
    Y.applyUpdate(staleV2, Y.encodeStateAsUpdate(provider.doc))
    writeAllKinds(provider.doc, 'late')
    provider.doc.getText('text').delete(0, 10) // deletions of content the stale copy has travel too
    await caughtUp(server, 'diffed', provider.doc)

    const sv = base64url(Y.encodeStateVector(stale))
    const full = await getBytes(docUrl(server, 'diffed', '/update'))
    const diff = await getBytes(docUrl(server, 'diffed', `/update?sv=${sv}`))
    expect(diff.byteLength).toBeLessThan(full.byteLength / 4)
    Y.applyUpdate(stale, diff)
    expect(contentOf(stale)).toEqual(contentOf(provider.doc))
    expect(Y.encodeStateVector(stale)).toEqual(Y.encodeStateVector(provider.doc))

    Y.applyUpdateV2(staleV2, await getBytes(docUrl(server, 'diffed', `/update?sv=${sv}&encoding=v2`)))
    expect(contentOf(staleV2)).toEqual(contentOf(provider.doc))

    // The same from storage, and an up-to-date holder gets nothing new.
    provider.destroy()
    await waitFor(() => server.app.quire.registry.size === 0, 'the room to unload')
    const current = base64url(Y.encodeStateVector(stale))
    const nothing = docFrom(await getBytes(docUrl(server, 'diffed', `/update?sv=${current}`)))
    expect(nothing.store.clients.size).toBe(0)
  })

  it('takes the name as one URL-encoded segment: %2F is part of the name, a bare / is not', async () => {
    const server = await startServer()
    // A document whose name ends like a route, edited over WebSocket.
    const provider = connect(server.url, 'x/text')
    await synced(provider)
    provider.doc.getText('text').insert(0, 'inside x/text')
    await caughtUp(server, 'x/text', provider.doc)

    const text = await fetch(httpUrl(server, '/api/docs/x%2Ftext/text?key=text'))
    expect(await text.text()).toBe('inside x/text')
    expect((await getJson<DocumentBody>(httpUrl(server, '/api/docs/x%2Ftext'))).name).toBe('x/text')
    // Unencoded, it is the text route of a document "x", which does not exist.
    expect((await fetch(httpUrl(server, '/api/docs/x/text?key=text'))).status).toBe(404)
    // The longest valid name (1024 bytes of 3-byte characters, 3072 chars encoded) is reachable.
    const long = '✓'.repeat(341) + 'a'
    expect((await postUpdate(docUrl(server, long, '/update'), updateWithText('long'))).status).toBe(200)
    expect((await getJson<DocumentBody>(docUrl(server, long))).name).toBe(long)
  })
})

describe('REST metadata and listing', () => {
  it('lists documents by prefix in pages, from metadata only', async () => {
    const server = await startServer()
    const names = ['alpha/1', 'alpha/2', 'alpha/3', 'alpha/ü', 'alphabet', 'beta']
    for (const name of names) expect((await postUpdate(docUrl(server, name, '/update'), updateWithText(name))).status).toBe(200)
    await waitFor(() => server.app.quire.registry.size === 0, 'the edit rooms to unload')
    const load = vi.spyOn(LevelDocStore.prototype, 'load')

    const pages: string[][] = []
    let url = httpUrl(server, '/api/docs?prefix=alpha%2F&limit=3')
    for (;;) {
      const page = await getJson<{ docs: DocumentBody[]; nextCursor?: string }>(url)
      pages.push(page.docs.map((doc) => doc.name))
      for (const doc of page.docs) expect(doc).toMatchObject({ updates: 1, loaded: false, connections: 0 })
      if (!page.nextCursor) break
      url = httpUrl(server, `/api/docs?prefix=alpha%2F&limit=3&cursor=${page.nextCursor}`)
    }
    expect(pages).toEqual([['alpha/1', 'alpha/2', 'alpha/3'], ['alpha/ü']])
    const all = await getJson<{ docs: DocumentBody[]; nextCursor?: string }>(httpUrl(server, '/api/docs'))
    expect(all.docs.map((doc) => doc.name)).toEqual(names)
    expect(all.nextCursor).toBeUndefined()
    expect(load).not.toHaveBeenCalled()
    expect(server.app.quire.registry.size).toBe(0)
  })

  it('reports size, history and live connections; 404 for a document never stored or loaded', async () => {
    const server = await startServer()
    const a = connect(server.url, 'meta')
    const b = connect(server.url, 'meta')
    await Promise.all([synced(a), synced(b)])
    a.doc.getText('text').insert(0, 'one')
    a.doc.getText('text').insert(0, 'two')
    await caughtUp(server, 'meta', a.doc)
    const live = await getJson<DocumentBody>(docUrl(server, 'meta'))
    expect(live).toMatchObject({ name: 'meta', updates: 2, loaded: true, connections: 2 })
    expect(live.bytes).toBeGreaterThan(0)
    // No compaction yet: the quota's estimate is exactly what is stored.
    expect(live.quotaBytes).toBe(live.bytes)
    expect(Date.parse(live.createdAt!)).toBeGreaterThan(Date.now() - 60_000)

    // A loaded document with nothing stored yet exists (someone has it open), with no history.
    const empty = connect(server.url, 'opened only')
    await synced(empty)
    expect(await getJson<DocumentBody>(docUrl(server, 'opened only'))).toEqual({
      name: 'opened only', updates: 0, bytes: 0, loaded: true, connections: 1, quotaBytes: 0,
    })
    await getJson(docUrl(server, 'never'), 404)
  })
})

function updateWithText(text: string): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('text').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}
