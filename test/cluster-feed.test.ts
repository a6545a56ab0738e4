/**
 * RoomFeed: how a room stays complete while another instance writes the same document, whatever
 * the bus does — messages out of order, lost, or only announced by a heartbeat's head, ranges
 * compacted away, a store read failing. The other instance is a second store on the same
 * MemoryStorage; the room is real, and a peer records what it relays.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import pino from 'pino'
import { Room, type RoomEvents } from '../src/room/room.js'
import type { Peer } from '../src/room/peer.js'
import type { DocStore } from '../src/storage/doc-store.js'
import { RoomFeed } from '../src/cluster/room-feed.js'
import { MemoryDocStore, MemoryStorage } from './store-contract/memory-store.js'
import { delegatingStore, waitFor } from './helpers.js'
import { decodeClientMessage } from '../src/protocol/messages.js'

const log = pino({ level: 'silent' })
const events: RoomEvents = { onEmpty() {}, onFailure() {}, onStored() {}, onAwareness() {} }

/** Another instance's edits: each update depends on the previous one (typing at the end). */
function edits(count: number): Uint8Array[] {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  for (let i = 0; i < count; i++) doc.getText('t').insert(i, String.fromCharCode(97 + i))
  return updates
}

async function setup(options: { store?: (inner: DocStore) => DocStore } = {}) {
  const storage = new MemoryStorage()
  const other = new MemoryDocStore(storage) // the other instance
  const reads = { since: 0, loads: 0 }
  const shared = new MemoryDocStore(storage)
  const counted = delegatingStore(shared, {
    readSince: (name, seq) => (reads.since++, shared.readSince(name, seq)),
    load: (name) => (reads.loads++, shared.load(name)),
  })
  const store = options.store ? options.store(counted) : counted
  const room = new Room('doc', await shared.load('doc'), store, events, log)
  /** Per relayed update frame, how many characters it inserts (updates committed together arrive merged). */
  const relayed: number[] = []
  const peer: Peer = {
    id: 'p',
    send: (frame) => {
      const message = decodeClientMessage(frame)
      if (message.type === 'update') relayed.push(Y.decodeUpdate(message.update).structs.reduce((n, struct) => n + struct.length, 0))
    },
    close() {},
  }
  room.join(peer)
  const caughtUp: boolean[] = []
  const feed = new RoomFeed(room, store, log, { gapGraceMs: 20, retryMs: 20 }, { caughtUp: (full) => caughtUp.push(full) })
  const text = () => room.doc.getText('t').toString()
  return { other, room, feed, reads, relayed, caughtUp, text }
}

describe('RoomFeed', () => {
  it('holds an update that arrives before the one it depends on, and applies both once that arrives', async () => {
    const { other, feed, reads, text } = await setup()
    const [u1, u2] = edits(2)
    const s1 = (await other.append('doc', u1!)).seq
    const s2 = (await other.append('doc', u2!)).seq
    feed.received(s2, u2!, 'other')
    expect(text()).toBe('') // not applied: it depends on u1
    feed.received(s1, u1!, 'other')
    expect(text()).toBe('ab')
    expect(feed.complete).toBe(2)
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(reads.since).toBe(0) // the bus filled the gap: no store read
  })

  it('reads a lost update from the store when the gap outlasts the grace', async () => {
    const { other, feed, reads, text, caughtUp } = await setup()
    const updates = edits(3)
    const seqs: number[] = []
    for (const u of updates) seqs.push((await other.append('doc', u)).seq)
    feed.received(seqs[2]!, updates[2]!, 'other') // 1 and 2 lost
    await waitFor(() => text() === 'abc', 'the lost updates to be read from the store', 2000)
    expect(reads.since).toBe(1)
    expect(caughtUp).toEqual([false])
    expect(feed.complete).toBe(3)
  })

  it('notices a lost last update from a heartbeat head alone', async () => {
    const { other, feed, text } = await setup()
    const [u1] = edits(1)
    const { seq } = await other.append('doc', u1!)
    feed.headAt(seq) // the update message itself never arrived
    await waitFor(() => text() === 'a', 'the update announced only by its head', 2000)
  })

  it('loads the whole document when compaction folded the missing range away', async () => {
    const { other, feed, text, caughtUp } = await setup()
    const updates = edits(4)
    let seq = 0
    for (const u of updates) seq = (await other.append('doc', u)).seq
    await other.compact('doc') // readSince(0) is null now
    feed.headAt(seq)
    await waitFor(() => text() === 'abcd', 'the compacted document to be loaded', 2000)
    expect(caughtUp).toEqual([true])
    expect(feed.complete).toBe(seq)
  })

  it('counts its own appends, so they are not read back, and ignores duplicates', async () => {
    const { other, room, feed, reads, text, relayed } = await setup()
    room.doc.getText('t').insert(0, 'x') // a local edit: the room appends it
    await room.durable()
    feed.stored(1)
    const [u1] = edits(1)
    const { seq } = await other.append('doc', u1!)
    feed.received(seq, u1!, 'other')
    feed.received(seq, u1!, 'other') // delivered twice
    expect(feed.complete).toBe(2)
    expect(text()).toHaveLength(2)
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(reads.since).toBe(0)
    // The local edit and the remote one were each relayed once (merged or not): two characters in all.
    expect(relayed.reduce((a, b) => a + b, 0)).toBe(2)
  })

  it('retries a failed store read until it succeeds', async () => {
    let failures = 2
    const { other, feed, text } = await setup({
      store: (inner) => delegatingStore(inner, {
        readSince: (name, seq) => (failures-- > 0 ? Promise.reject(new Error('database unreachable')) : inner.readSince(name, seq)),
      }),
    })
    const [u1] = edits(1)
    const { seq } = await other.append('doc', u1!)
    feed.headAt(seq)
    await waitFor(() => text() === 'a', 'the read to succeed on a retry', 3000)
    expect(failures).toBeLessThan(0)
  })
})
