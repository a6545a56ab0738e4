import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Awareness, encodeAwarenessUpdate } from 'y-protocols/awareness'
import { decodeClientMessage, encodeAwareness, encodeSyncStep1, encodeSyncStep2, encodeUpdate } from '../src/protocol/messages.js'
import { documentNameFromUrl } from '../src/protocol/document-name.js'
import { ProtocolError, closeReason } from '../src/protocol/close-codes.js'

function codeOf(run: () => unknown): number | undefined {
  try {
    run()
  } catch (error) {
    if (error instanceof ProtocolError) return error.closeCode
    throw error
  }
  return undefined
}

describe('decodeClientMessage', () => {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, 'hello')
  const update = Y.encodeStateAsUpdate(doc)

  it('round-trips every message a y-websocket client sends', () => {
    expect(decodeClientMessage(encodeSyncStep1(Y.encodeStateVector(doc)))).toMatchObject({ type: 'sync-step1', isEmpty: false })
    expect(decodeClientMessage(encodeSyncStep1(Y.encodeStateVector(new Y.Doc())))).toMatchObject({ type: 'sync-step1', isEmpty: true })
    expect(decodeClientMessage(encodeSyncStep2(update))).toEqual({ type: 'sync-step2', update })
    expect(decodeClientMessage(encodeUpdate(update))).toEqual({ type: 'update', update })
    const awareness = new Awareness(doc)
    awareness.setLocalState({ user: 'Ada' })
    const state = encodeAwarenessUpdate(awareness, [doc.clientID])
    expect(decodeClientMessage(encodeAwareness(state))).toEqual({
      type: 'awareness',
      update: state,
      entries: [{ clientId: doc.clientID, clock: 1, json: JSON.stringify({ user: 'Ada' }) }],
    })
    expect(decodeClientMessage(Uint8Array.of(3))).toEqual({ type: 'query-awareness' })
    awareness.destroy()
  })

  it('maps each kind of bad frame to its close code', () => {
    const full = encodeUpdate(update)
    expect(codeOf(() => decodeClientMessage(new Uint8Array()))).toBe(1002)
    expect(codeOf(() => decodeClientMessage(Uint8Array.of(0x80)))).toBe(1002) // truncated varint
    expect(codeOf(() => decodeClientMessage(full.subarray(0, full.length - 3)))).toBe(1002) // length past the end
    expect(codeOf(() => decodeClientMessage(Uint8Array.of(...full, 0)))).toBe(1002) // trailing byte
    expect(codeOf(() => decodeClientMessage(Uint8Array.of(9)))).toBe(1003)
    expect(codeOf(() => decodeClientMessage(Uint8Array.of(0, 7, 0)))).toBe(1003)
    expect(codeOf(() => decodeClientMessage(Uint8Array.of(2, 0, 0)))).toBe(1003)
    // An update's own bytes are judged by the room when it applies them (room.test.ts, malformed.test.ts).
    expect(decodeClientMessage(encodeUpdate(update.subarray(0, update.length - 2))).type).toBe('update')
    expect(codeOf(() => decodeClientMessage(encodeSyncStep1(Uint8Array.of(5, 1))))).toBe(1007)
    expect(codeOf(() => decodeClientMessage(Uint8Array.of(1, 4, 1, 1, 1, 0x7b)))).toBe(1007) // JSON "{"
  })

  it('never reads past the frame into a shared buffer', () => {
    // A length prefix of 5 with only 1 byte left, inside a larger buffer full of valid bytes.
    const pool = new Uint8Array(64).fill(0)
    pool.set([0, 2, 5, 0], 10)
    expect(codeOf(() => decodeClientMessage(pool.subarray(10, 14)))).toBe(1002)
  })
})

describe('documentNameFromUrl', () => {
  it('decodes the path after the base into the room name', () => {
    expect(documentNameFromUrl('/my-doc')).toBe('my-doc')
    expect(documentNameFromUrl('/team-a/spec?token=x')).toBe('team-a/spec')
    expect(documentNameFromUrl('/Stra%C3%9Fe%20%F0%9F%93%9D')).toBe('Straße 📝')
    expect(documentNameFromUrl('/collab/a%2Fb', '/collab')).toBe('a/b')
  })

  it('rejects names that cannot be a document with 4400', () => {
    for (const url of ['/', '/%zz', '/a%00b', '/' + 'x'.repeat(1025), '/other']) {
      expect(codeOf(() => documentNameFromUrl(url, url === '/other' ? '/collab' : '/'))).toBe(4400)
    }
  })
})

describe('closeReason', () => {
  it('fits the 123-byte limit of a close frame without splitting a character', () => {
    const reason = closeReason('ü'.repeat(100))
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123)
    expect(reason).not.toContain('\uFFFD')
  })
})
