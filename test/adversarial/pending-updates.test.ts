/**
 * Item 4: updates whose dependencies the server lacks. Yjs would keep them pending in the live
 * document — served in SyncStep2 answers and exports without being stored, re-processed by every
 * later apply, and blocking REST writes. Quire refuses them (1007) and the document stays clean.
 * One exception: y-websocket sends live edits as soon as its socket opens, before its SyncStep2
 * with the offline edits they build on; such early edits are dropped (that SyncStep2 brings
 * them), and the client is not disconnected.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { cleanup, connect, rawClient, startServer, synced, waitFor, type TestServer } from '../helpers.js'
import { docUrl, getBytes, postUpdate } from '../rest-helpers.js'
import { metric } from '../metrics-helpers.js'
import { syncFrame } from './frames.js'

afterEach(cleanup)

const ROOM = 'pending'

/** An update that continues a client's edits from clock 5 on, while the server has none of them. */
function updateWithAGap(): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = 31_337
  const text = doc.getText('t')
  text.insert(0, 'early') // clocks 0–4: never sent
  const before = Y.encodeStateVector(doc)
  text.insert(5, ' HIDDEN')
  return Y.encodeStateAsUpdate(doc, before)
}

/** An update whose delete set deletes content of a client the server has never seen. */
function deleteOfUnknownContent(): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = 4_242
  doc.getText('t').insert(0, 'never sent')
  const before = Y.encodeStateVector(doc)
  doc.getText('t').delete(0, 5)
  return Y.encodeStateAsUpdate(doc, before)
}

async function seeded(): Promise<TestServer> {
  const server = await startServer()
  const writer = connect(server.url, ROOM)
  await synced(writer)
  writer.doc.getText('t').insert(0, 'kept')
  await waitFor(async () => (await metric(server, 'quire_messages_received_total{type="update"}')) >= 1, 'the seed update')
  return server
}

describe('updates with missing dependencies', () => {
  it.each([
    ['structs that start past what the server has', updateWithAGap],
    ['a delete set for content the server never had', deleteOfUnknownContent],
  ])('%s: closes the sender with 1007 and keeps nothing pending', async (_what, make) => {
    const server = await seeded()
    const attacker = await rawClient(server.url, ROOM)
    attacker.send(syncFrame(1, Y.encodeStateAsUpdate(new Y.Doc()))) // its SyncStep2: caught up, nothing to add
    attacker.send(syncFrame(2, make()))
    const closed = await attacker.closed
    expect(closed.code).toBe(1007)
    expect(closed.reason).toMatch(/client|clock|depend/)

    const room = server.app.quire.registry.get(ROOM)!
    expect(room.doc.store.pendingStructs).toBeNull()
    expect(room.doc.store.pendingDs).toBeNull()
    // An export and a fresh client see exactly what is stored.
    const exported = new Y.Doc()
    Y.applyUpdate(exported, await getBytes(docUrl(server, ROOM, '/update')))
    expect(exported.getText('t').toString()).toBe('kept')
    expect(exported.store.pendingStructs).toBeNull()
    expect(await metric(server, 'quire_connection_errors_total{code="QUIRE_MISSING_DEPENDENCIES"}')).toBe(1)

    // REST writes to the document still succeed.
    const more = new Y.Doc()
    Y.applyUpdate(more, Y.encodeStateAsUpdate(exported))
    const sv = Y.encodeStateVector(more)
    more.getText('t').insert(4, ' and more')
    const response = await postUpdate(docUrl(server, ROOM, '/update'), Y.encodeStateAsUpdate(more, sv))
    expect(response.status).toBeLessThan(300)
    const late = connect(server.url, ROOM)
    await synced(late)
    expect(late.doc.getText('t').toString()).toBe('kept and more')
  })

  it('before its SyncStep2, such an update is dropped quietly: the connection stays, nothing is kept', async () => {
    const server = await seeded()
    const early = await rawClient(server.url, ROOM)
    early.send(syncFrame(2, updateWithAGap()))
    await waitFor(async () => (await metric(server, 'quire_early_updates_dropped_total')) === 1, 'the early update to be dropped')
    const room = server.app.quire.registry.get(ROOM)!
    expect(room.doc.store.pendingStructs).toBeNull()
    expect(room.doc.getText('t').toString()).toBe('kept')
    expect(early.ws.readyState).toBe(early.ws.OPEN)
    // A SyncStep2 that refers to content the server lacks is an error, early or not.
    early.send(syncFrame(1, updateWithAGap()))
    expect((await early.closed).code).toBe(1007)
  })

  it('a provider typing while it reconnects with offline edits is never disconnected, and the server catches up', async () => {
    const server = await startServer()
    const typist = connect(server.url, ROOM)
    await synced(typist)
    const text = typist.doc.getText('t')
    for (let round = 0; round < 5; round++) {
      typist.disconnect()
      await waitFor(() => server.app.quire.registry.get(ROOM) === undefined, 'the room to unload')
      text.insert(text.length, `offline ${round}. `)
      typist.connect()
      // Keystrokes right away: they reach the server before the SyncStep2 with the offline edit.
      for (let i = 0; i < 40; i++) {
        text.insert(text.length, String(i % 10))
        await new Promise((resolve) => setImmediate(resolve))
      }
      await synced(typist)
    }
    const expected = text.toString()
    await waitFor(async () => {
      const stored = new Y.Doc()
      Y.applyUpdate(stored, await getBytes(docUrl(server, ROOM, '/update')))
      return stored.getText('t').toString() === expected
    }, 'the server to hold every keystroke')
    expect(await metric(server, 'quire_connection_errors_total{code="QUIRE_MISSING_DEPENDENCIES"}')).toBe(0)
  })

  it('answers 400 to the same update over REST, and later REST writes succeed', async () => {
    const server = await seeded()
    const refused = await postUpdate(docUrl(server, ROOM, '/update'), updateWithAGap())
    expect(refused.status).toBe(400)
    const doc = new Y.Doc()
    Y.applyUpdate(doc, await getBytes(docUrl(server, ROOM, '/update')))
    const sv = Y.encodeStateVector(doc)
    doc.getText('t').insert(0, '>')
    expect((await postUpdate(docUrl(server, ROOM, '/update'), Y.encodeStateAsUpdate(doc, sv))).status).toBeLessThan(300)
  })
})
