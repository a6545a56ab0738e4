/**
 * Bad input gets a clear error and loses nothing: every malformed frame closes only the socket
 * that sent it, with the documented close code and a reason, and never touches the document.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import type { WebsocketProvider } from 'y-websocket'
import { cleanup, connect, rawClient, startServer, synced, waitFor, withTimeout, type TestServer } from './helpers.js'

afterEach(cleanup)

const MAX_FRAME = 64 * 1024
const ROOM = 'malformed'

function frame(write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder()
  write(e)
  return encoding.toUint8Array(e)
}

/** [0 sync, subtype, varUint8Array payload] */
const syncFrame = (subtype: number, payload: Uint8Array): Uint8Array =>
  frame((e) => {
    encoding.writeVarUint(e, 0)
    encoding.writeVarUint(e, subtype)
    encoding.writeVarUint8Array(e, payload)
  })

/** A valid Yjs update that inserts `text`: if a bad frame carrying it were applied, it would show. */
function insertUpdate(text: string): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

/** Deterministic PRNG (mulberry32) so the "random" frames are the same on every run. */
function seededBytes(seed: number, length: number): Uint8Array {
  let s = seed >>> 0
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return Uint8Array.from({ length }, () => Math.floor(next() * 256))
}

const evil = insertUpdate('EVIL')

/** Update v1: one struct of client 123 at clock 0, a ContentJSON item in root type "t" holding "{". */
function badJsonUpdate(): Uint8Array {
  return frame((e) => {
    encoding.writeVarUint(e, 1) // one client block
    encoding.writeVarUint(e, 1) // one struct
    encoding.writeVarUint(e, 123) // client
    encoding.writeVarUint(e, 0) // clock
    encoding.writeUint8(e, 2) // info: ContentJSON, no origins
    encoding.writeVarUint(e, 1) // parent is a root type, by name
    encoding.writeVarString(e, 't')
    encoding.writeVarUint(e, 1) // one JSON element
    encoding.writeVarString(e, '{')
    encoding.writeVarUint(e, 0) // empty delete set
  })
}

interface BadFrame {
  kind: string
  frame: Uint8Array | string
  codes: number[]
}

const badFrames: BadFrame[] = [
  // Pure noise mostly reads as an unknown type; noise behind a real header reaches the deeper decoders.
  ...[[], [], [0, 0], [0, 1], [0, 2], [1]].map((head, i) => ({
    kind: `random bytes${head.length > 0 ? ` after [${head.join(',')}]` : ''} (seed ${i + 1})`,
    frame: Uint8Array.of(...head, ...seededBytes(i + 1, 40 + i * 23)),
    codes: [1002, 1003, 1007],
  })),
  { kind: 'truncated varint', frame: Uint8Array.of(0x80), codes: [1002] },
  // Claims a 10-byte update but only 2 bytes follow.
  { kind: 'sync length prefix past the end', frame: Uint8Array.of(0, 2, 10, 1, 2), codes: [1002] },
  { kind: 'unknown message type', frame: Uint8Array.of(7), codes: [1003] },
  { kind: 'unknown sync subtype', frame: syncFrame(9, new Uint8Array(0)), codes: [1003] },
  { kind: 'text frame', frame: '{"type":"update"}', codes: [1003] },
  {
    kind: 'auth message from the client',
    frame: frame((e) => {
      encoding.writeVarUint(e, 2)
      encoding.writeVarUint(e, 0)
      encoding.writeVarString(e, 'let me in')
    }),
    codes: [1003],
  },
  // A fully valid update message plus one stray byte: the update must not be applied either.
  { kind: 'trailing bytes after a valid update', frame: Uint8Array.of(...syncFrame(2, evil), 0), codes: [1002] },
  { kind: 'Yjs update truncated by 3 bytes', frame: syncFrame(2, evil.subarray(0, evil.length - 3)), codes: [1007] },
  { kind: 'SyncStep2 truncated by 3 bytes', frame: syncFrame(1, evil.subarray(0, evil.length - 3)), codes: [1007] },
  // State vector claiming one entry (client 5) whose clock is missing.
  { kind: 'invalid state vector in SyncStep1', frame: syncFrame(0, Uint8Array.of(1, 5)), codes: [1007] },
  {
    kind: 'awareness update with invalid JSON',
    frame: frame((e) => {
      encoding.writeVarUint(e, 1)
      encoding.writeVarUint8Array(
        e,
        frame((a) => {
          encoding.writeVarUint(a, 1) // one client
          encoding.writeVarUint(a, 424242) // clientID
          encoding.writeVarUint(a, 1) // clock
          encoding.writeVarString(a, '{"user": {"name": ')
        }),
      )
    }),
    codes: [1007],
  },
  // Well framed, so only Yjs' own reading finds the fault: one legacy JSON item whose element is "{".
  { kind: 'update whose JSON content does not parse', frame: syncFrame(2, badJsonUpdate()), codes: [1007] },
  // 100 KiB of valid update against a 64 KiB limit.
  { kind: 'frame larger than maxFrameBytes', frame: syncFrame(2, insertUpdate('x'.repeat(100 * 1024))), codes: [1009] },
]

const text = (p: WebsocketProvider): string => p.doc.getText('t').toString()

/** A server holding `ROOM` with two synced providers that both show "hello". */
async function syncedPair(): Promise<{ server: TestServer; a: WebsocketProvider; b: WebsocketProvider }> {
  const server = await startServer({ maxFrameBytes: MAX_FRAME })
  const a = connect(server.url, ROOM)
  const b = connect(server.url, ROOM)
  await Promise.all([synced(a), synced(b)])
  a.doc.getText('t').insert(0, 'hello')
  await waitFor(() => text(b) === 'hello', 'B to receive the initial text')
  return { server, a, b }
}

/** Sends one bad frame on a fresh raw socket and returns how the server closed it. */
async function sendBad(server: TestServer, bad: BadFrame): Promise<{ code: number; reason: string }> {
  const raw = await rawClient(server.url, ROOM)
  if (typeof bad.frame === 'string') raw.ws.send(bad.frame)
  else raw.send(bad.frame)
  return withTimeout(raw.closed, 5_000, `the server to close the socket after: ${bad.kind}`)
}

describe('malformed frames', () => {
  it.each(badFrames)('$kind: closes that socket with $codes and loses nothing', async (bad) => {
    const { server, a, b } = await syncedPair()

    const { code, reason } = await sendBad(server, bad)
    expect(bad.codes).toContain(code)
    expect(reason.length).toBeGreaterThan(0)

    // The providers still sync with each other. A's edit travels after anything the bad frame
    // could have caused, so once B has it, any leaked change would be visible too.
    a.doc.getText('t').insert(5, ' world')
    await waitFor(() => text(b).includes('world'), 'B to receive an edit made after the bad frame')
    expect(text(a)).toBe('hello world')
    expect(text(b)).toBe('hello world')
    expect(a.wsconnected && b.wsconnected).toBe(true)

    // The server still serves: a newcomer holds everything at its first sync.
    const late = connect(server.url, ROOM)
    await synced(late)
    expect(text(late)).toBe('hello world')
  })

  it('never changes the server document, whatever bad frame arrives', async () => {
    const { server } = await syncedPair()
    const room = server.app.quire.registry.get(ROOM)!
    await waitFor(() => room.doc.getText('t').toString() === 'hello', 'the server to hold the text')
    const before = Y.encodeStateAsUpdate(room.doc)

    for (const bad of badFrames) {
      const { code } = await sendBad(server, bad)
      expect(bad.codes, bad.kind).toContain(code)
    }
    // Updates are applied synchronously on receipt, before the close is sent, so by now any
    // damage would be in the document.
    expect(server.app.quire.registry.get(ROOM)).toBe(room)
    expect(Y.encodeStateAsUpdate(room.doc)).toEqual(before)
    expect(room.doc.getText('t').toString()).toBe('hello')
  })
})
