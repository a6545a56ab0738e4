/**
 * Awareness (presence) through the server with real y-websocket providers: relayed between
 * peers, removed by the server when a peer goes away, answered on query, pushed to late joiners.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { Awareness, applyAwarenessUpdate } from 'y-protocols/awareness'
import type { WebsocketProvider } from 'y-websocket'
import { cleanup, connect, rawClient, startServer, synced, waitFor, type RawClient, type TestServer } from './helpers.js'

afterEach(cleanup)

const ROOM = 'presence'

type State = Record<string, unknown>

const stateIn = (p: WebsocketProvider, clientId: number): State | undefined => p.awareness.getStates().get(clientId)

/** An awareness frame [1, update] announcing `state` for `clientId`, as a client would send it. */
function awarenessFrame(clientId: number, state: State): Uint8Array {
  const update = encoding.createEncoder()
  encoding.writeVarUint(update, 1) // one client
  encoding.writeVarUint(update, clientId)
  encoding.writeVarUint(update, 1) // clock
  encoding.writeVarString(update, JSON.stringify(state))
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint8Array(e, encoding.toUint8Array(update))
  return encoding.toUint8Array(e)
}

const isAwarenessFrame = (f: Uint8Array): boolean => f[0] === 1

/** Applies every awareness frame in `frames` to a scratch Awareness and returns the states. */
function decodeAwareness(frames: Uint8Array[]): Map<number, State> {
  const doc = new Y.Doc()
  const scratch = new Awareness(doc)
  scratch.setLocalState(null)
  for (const f of frames.filter(isAwarenessFrame)) {
    const decoder = decoding.createDecoder(f)
    decoding.readVarUint(decoder) // message type
    applyAwarenessUpdate(scratch, decoding.readVarUint8Array(decoder), 'test')
  }
  const states = new Map(scratch.getStates())
  scratch.destroy()
  doc.destroy()
  return states
}

const nameIn = (p: WebsocketProvider, clientId: number): unknown => (stateIn(p, clientId)?.user as State | undefined)?.name

/** Two synced providers announced as Ada (A) and Bob (B), each having seen the other. */
async function adaAndB(): Promise<{ server: TestServer; a: WebsocketProvider; b: WebsocketProvider }> {
  const server = await startServer()
  const a = connect(server.url, ROOM)
  const b = connect(server.url, ROOM)
  await Promise.all([synced(a), synced(b)])
  // A provider's initial {} state has clock 0, which y-protocols never applies remotely; set one.
  a.awareness.setLocalStateField('user', { name: 'Ada' })
  b.awareness.setLocalStateField('user', { name: 'Bob' })
  await waitFor(() => nameIn(b, a.doc.clientID) === 'Ada', "B to see Ada's state")
  await waitFor(() => nameIn(a, b.doc.clientID) === 'Bob', "A to see Bob's state")
  return { server, a, b }
}

describe('awareness', () => {
  it("relays a provider's local state to the other provider", async () => {
    const { a, b } = await adaAndB()
    // And updates to it, not just the first announcement.
    a.awareness.setLocalStateField('cursor', { index: 3 })
    await waitFor(() => (stateIn(b, a.doc.clientID)?.cursor as State | undefined)?.index === 3, "B to see Ada's cursor")
    expect(stateIn(b, a.doc.clientID)).toEqual({ user: { name: 'Ada' }, cursor: { index: 3 } })
  })

  it("removes a provider's state when the provider disconnects", async () => {
    const { server, a, b } = await adaAndB()
    a.disconnect()
    await waitFor(() => !b.awareness.getStates().has(a.doc.clientID), "B to drop Ada's state")
    await waitFor(() => !server.app.quire.registry.get(ROOM)!.awareness.getStates().has(a.doc.clientID), 'the server to drop it')
  })

  // A raw client never says goodbye, so only the server can tell B that its state is gone.
  it.each([
    { how: 'its TCP connection drops (terminate)', leave: (raw: RawClient) => raw.ws.terminate() },
    { how: 'it is closed for a bad frame', leave: (raw: RawClient) => raw.send([7]) },
  ])('removes the state of a peer that never sent a removal when $how', async ({ leave }) => {
    const { server, b } = await adaAndB()
    const eve = 0x5eed
    const raw = await rawClient(server.url, ROOM)
    raw.send(awarenessFrame(eve, { user: { name: 'Eve' } }))
    await waitFor(() => nameIn(b, eve) === 'Eve', "B to see Eve's state")

    leave(raw)
    await waitFor(() => !b.awareness.getStates().has(eve), "B to drop Eve's state after the server removed it")
    expect(server.app.quire.registry.get(ROOM)!.awareness.getStates().has(eve)).toBe(false)
  })

  it('answers queryAwareness with every current state', async () => {
    const { server, a, b } = await adaAndB()
    const raw = await rawClient(server.url, ROOM)
    // Whatever the server pushes on join precedes its relay of this change, so every frame
    // after the relay is the answer to the query.
    a.awareness.setLocalStateField('cursor', 7)
    await waitFor(() => decodeAwareness(raw.frames).get(a.doc.clientID)?.cursor === 7, "the relay of Ada's cursor")
    const seen = raw.frames.length

    raw.send([3])
    await waitFor(() => raw.frames.slice(seen).some(isAwarenessFrame), 'the answer to queryAwareness')
    const states = decodeAwareness(raw.frames.slice(seen))
    expect(states.get(a.doc.clientID)).toEqual({ user: { name: 'Ada' }, cursor: 7 })
    expect(states.get(b.doc.clientID)).toEqual({ user: { name: 'Bob' } })
    expect(raw.ws.readyState).toBe(raw.ws.OPEN) // a query is a valid message, not a fault
  })

  it('pushes the current states to a late joiner without being asked', async () => {
    const { server, a, b } = await adaAndB()

    // A raw client that sends nothing at all still learns who is present.
    const raw = await rawClient(server.url, ROOM)
    await waitFor(() => raw.frames.some(isAwarenessFrame), 'awareness pushed on join')
    const states = decodeAwareness(raw.frames)
    expect(states.get(a.doc.clientID)).toEqual({ user: { name: 'Ada' } })
    expect(states.get(b.doc.clientID)).toEqual({ user: { name: 'Bob' } })

    // y-websocket does not query over WebSocket; the push precedes SyncStep2, so at its first
    // sync a late provider already knows Ada.
    const late = connect(server.url, ROOM)
    await synced(late)
    expect(stateIn(late, a.doc.clientID)).toEqual({ user: { name: 'Ada' } })
  })
})

describe('awareness coalescing', () => {
  /** A provider moves its cursor `moves` times in a burst; returns the awareness frames an observer got and its last state. */
  async function burst(awarenessWindowMs: number | undefined, moves: number) {
    const server = await startServer(awarenessWindowMs === undefined ? {} : { awarenessWindowMs })
    const mover = connect(server.url, ROOM)
    await synced(mover)
    const observer = await rawClient(server.url, ROOM)
    await waitFor(() => observer.frames.length > 0, 'the observer to be greeted')
    const before = observer.frames.length
    for (let i = 1; i <= moves; i++) {
      mover.awareness.setLocalStateField('cursor', i)
      await new Promise((resolve) => setTimeout(resolve, 1)) // separate frames from the client
    }
    await waitFor(() => decodeAwareness(observer.frames).get(mover.doc.clientID)?.cursor === moves, 'the last cursor position to arrive')
    await new Promise((resolve) => setTimeout(resolve, 50))
    return observer.frames.slice(before).filter(isAwarenessFrame).length
  }

  it('relays a burst of cursor moves in far fewer frames, ending with the latest state', async () => {
    const moves = 40
    const coalesced = await burst(undefined, moves)
    const immediate = await burst(0, moves)
    expect(immediate).toBeGreaterThanOrEqual(moves)
    // 40 moves at ~1 ms apart span a few 16 ms windows.
    expect(coalesced).toBeLessThan(moves / 3)
  })
})
