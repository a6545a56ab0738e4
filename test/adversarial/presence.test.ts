/**
 * Items 2 and 3: presence (awareness) cannot be forged, nor grown without bound. A client id
 * belongs to the connection that first announced it; others cannot set or remove it, the
 * server's own id is never accepted, removals of ids nobody owns leave no trace, and a client
 * that reconnects before its old socket is noticed dead takes its id over without blinking out.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import { cleanup, connect, rawClient, startServer, synced, tempDir, waitFor, type TestServer } from '../helpers.js'
import { killChildren, startChild } from '../child-server.js'
import { metric } from '../metrics-helpers.js'
import { awarenessFrame, rssOf } from './frames.js'

afterEach(async () => {
  await killChildren()
  await cleanup()
})

const ROOM = 'presence'
const nameOf = (p: WebsocketProvider, id: number) => (p.awareness.getStates().get(id) as { name?: string } | undefined)?.name

/** Every state `observer` has seen for `id`, in order; `null` for a removal. */
function history(observer: WebsocketProvider, id: number): Array<string | null> {
  const seen: Array<string | null> = []
  observer.awareness.on('change', ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }) => {
    if (removed.includes(id)) seen.push(null)
    if (added.includes(id) || updated.includes(id)) seen.push(nameOf(observer, id) ?? '?')
  })
  return seen
}

async function victimAndObserver(server: TestServer) {
  const victim = connect(server.url, ROOM)
  const observer = connect(server.url, ROOM)
  await Promise.all([synced(victim), synced(observer)])
  victim.awareness.setLocalState({ name: 'victim' })
  const id = victim.doc.clientID
  await waitFor(() => nameOf(observer, id) === 'victim', 'the observer to see the victim')
  return { victim, observer, id }
}

const dropped = (server: TestServer, reason: string) => metric(server, `quire_awareness_dropped_total{reason="${reason}"}`)

describe('awareness ownership', () => {
  it("drops another peer's id and the server's id: the victim and the others never see the forgery", async () => {
    const server = await startServer()
    const { victim, observer, id } = await victimAndObserver(server)
    const seen = history(observer, id)
    const serverId = server.app.quire.registry.get(ROOM)!.awareness.clientID
    const clock = victim.awareness.meta.get(id)!.clock
    const attacker = await rawClient(server.url, ROOM)
    attacker.send(awarenessFrame([{ clientId: id, clock: clock + 5, state: { name: 'evil' } }]))
    attacker.send(awarenessFrame([{ clientId: id, clock: clock + 6, state: null }]))
    attacker.send(awarenessFrame([{ clientId: serverId, clock: 9, state: { name: 'server?' } }]))
    // The attacker's own id last: once the observer has it, every frame before it was handled.
    attacker.send(awarenessFrame([{ clientId: 777_777, clock: 1, state: { name: 'attacker' } }]))
    await waitFor(() => nameOf(observer, 777_777) === 'attacker', "the attacker's own state")

    expect(seen).toEqual([])
    expect(nameOf(observer, id)).toBe('victim')
    expect(victim.awareness.getLocalState()).toEqual({ name: 'victim' })
    expect(nameOf(observer, serverId)).toBeUndefined()
    expect(await dropped(server, 'foreign')).toBe(2)
    expect(await dropped(server, 'server-id')).toBe(1)
    // The attacker's connection itself stays open: dropping is enough, and echoes look the same.
    expect(attacker.ws.readyState).toBe(attacker.ws.OPEN)
  })

  it('hands an id to a reconnected client when the old socket goes: its presence never blinks out', async () => {
    const server = await startServer()
    const observer = connect(server.url, ROOM)
    await synced(observer)
    const id = 424_242
    const before = await rawClient(server.url, ROOM)
    before.send(awarenessFrame([{ clientId: id, clock: 3, state: { name: 'old socket' } }]))
    await waitFor(() => nameOf(observer, id) === 'old socket', 'the first connection announcing the id')
    const seen = history(observer, id)

    // The same client on a new socket while the old one still looks alive: not yet its id.
    const after = await rawClient(server.url, ROOM)
    after.send(awarenessFrame([{ clientId: id, clock: 4, state: { name: 'new socket' } }]))
    await waitFor(async () => (await dropped(server, 'foreign')) === 1, 'the contended entry to be dropped')
    expect(nameOf(observer, id)).toBe('old socket')

    before.ws.terminate() // the old socket dies without a closing handshake
    await waitFor(() => nameOf(observer, id) === 'new socket', 'the id to pass to the new socket')
    expect(seen).toEqual(['new socket'])

    // Now it is the new socket's id: its updates go through, the old one's would not.
    after.send(awarenessFrame([{ clientId: id, clock: 9, state: { name: 'moved on' } }]))
    await waitFor(() => nameOf(observer, id) === 'moved on', 'an update from the new owner')
    expect(seen).toEqual(['new socket', 'moved on'])
    after.ws.close()
    await waitFor(() => nameOf(observer, id) === undefined, 'the removal when the owner leaves')
  })

  it('echoes of states other peers own are dropped quietly, not counted as forgery and not rate-limited', async () => {
    const server = await startServer({ limits: { messageBurst: 5, messagesPerSecond: 1 } })
    const { observer, id } = await victimAndObserver(server)
    const clock = observer.awareness.meta.get(id)!.clock
    const echoer = await rawClient(server.url, ROOM)
    for (let i = 0; i < 20; i++) echoer.send(awarenessFrame([{ clientId: id, clock, state: { name: 'victim' } }]))
    await waitFor(async () => (await dropped(server, 'echo')) >= 20, 'the echoes to be dropped')
    expect(await dropped(server, 'foreign')).toBe(0)
    expect(echoer.ws.readyState).toBe(echoer.ws.OPEN)
  })

  it('closes a connection claiming more ids than --max-awareness-clients with 1008', async () => {
    const server = await startServer({ limits: { maxAwarenessClients: 3 } })
    const observer = connect(server.url, ROOM)
    await synced(observer)
    const client = await rawClient(server.url, ROOM)
    client.send(awarenessFrame([1, 2, 3].map((n) => ({ clientId: n, clock: 1, state: { n } }))))
    await waitFor(() => observer.awareness.getStates().has(3), 'three ids within the limit')
    client.send(awarenessFrame([{ clientId: 4, clock: 1, state: { n: 4 } }]))
    expect(await client.closed).toEqual({ code: 1008, reason: 'more than 3 awareness client ids on one connection' })
    await waitFor(() => ![1, 2, 3].some((n) => observer.awareness.getStates().has(n)), 'its ids removed')
    expect(await metric(server, 'quire_connection_errors_total{code="QUIRE_AWARENESS_CLIENTS"}')).toBe(1)
  })

  it('closes a connection sending a state larger than --max-awareness-bytes with 4413, before applying it', async () => {
    const server = await startServer({ limits: { maxAwarenessBytes: 1024 } })
    const observer = connect(server.url, ROOM)
    await synced(observer)
    const client = await rawClient(server.url, ROOM)
    client.send(awarenessFrame([{ clientId: 5, clock: 1, state: { pad: 'é'.repeat(600) } }])) // 1,2xx bytes of UTF-8
    expect(await client.closed).toEqual({ code: 4413, reason: 'awareness state larger than 1024 bytes' })
    expect(observer.awareness.getStates().has(5)).toBe(false)
    expect(await metric(server, 'quire_connection_closes_total{code="4413"}')).toBe(1)
  })
})

describe('awareness memory', () => {
  it('removals of ids nobody owns leave nothing behind in the room', async () => {
    const server = await startServer()
    const observer = connect(server.url, ROOM)
    await synced(observer)
    const room = server.app.quire.registry.get(ROOM)!
    const metaBefore = room.awareness.meta.size
    const attacker = await rawClient(server.url, ROOM)
    let next = 1_000
    for (let frame = 0; frame < 400; frame++) {
      attacker.send(awarenessFrame(Array.from({ length: 50 }, () => ({ clientId: next++, clock: 7, state: null }))))
    }
    attacker.send(awarenessFrame([{ clientId: 9, clock: 1, state: { name: 'marker' } }]))
    await waitFor(() => observer.awareness.getStates().has(9), 'the frames to be handled', 20_000)
    expect(room.awareness.meta.size).toBe(metaBefore + 1) // only the marker, which the attacker owns
    expect(await metric(server, 'quire_awareness_dropped_total{reason="unknown-removal"}')).toBe(20_000)
  })

  /** A frame of just under 14 MiB with a million entries: y-protocols alone would remember every one. */
  function millionRemovals(round: number): Uint8Array {
    const entries = []
    for (let i = 0; i < 1_200_000; i++) entries.push({ clientId: round * 10_000_000 + i + 1, clock: 1 + i, state: null })
    return awarenessFrame(entries)
  }

  it('refuses an update with more entries than the room can have before decoding them; a real server stays within 100 MiB of RSS', async () => {
    const child = await startChild({ dataDir: await tempDir() })
    const observer = connect(child.url, ROOM)
    await synced(observer)
    const rssBefore = await rssOf(child.child.pid!)
    const frame = millionRemovals(0)
    const started = performance.now()
    for (let round = 0; round < 5; round++) {
      const attacker = await rawClient(child.url, ROOM)
      attacker.send(frame)
      const closed = await attacker.closed
      expect(closed.code).toBe(1008)
      expect(closed.reason).toMatch(/^awareness update with 1200000 entries/)
    }
    const growth = (await rssOf(child.child.pid!)) - rssBefore
    // Before the fix each frame kept ~150 MiB alive (750 MiB here) and took seconds of CPU.
    expect(growth).toBeLessThan(100 * 1024 * 1024)
    expect(performance.now() - started).toBeLessThan(30_000) // decoding them all took ~45 s
    observer.awareness.setLocalState({ still: 'here' })
    await waitFor(async () => (await fetch(`http://127.0.0.1:${child.port}/healthz`)).ok, 'the server to answer')
  }, 60_000)
})
