/**
 * The y-websocket wire protocol as pure functions: bytes in, typed message out, and the encoders
 * for what the server sends. Nothing here touches a socket or a document.
 */
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as sync from 'y-protocols/sync'
import { ProtocolError } from './close-codes.js'

export const MessageType = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const

export type ClientMessage =
  | { type: 'sync-step1'; stateVector: Uint8Array; isEmpty: boolean }
  | { type: 'sync-step2'; update: Uint8Array }
  | { type: 'update'; update: Uint8Array }
  | { type: 'awareness'; update: Uint8Array; entries: AwarenessEntry[] }
  | { type: 'query-awareness' }
  /** Hocuspocus' stateless message (its transport decodes it): relayed to the room's other peers. */
  | { type: 'stateless'; payload: string }

export interface DecodeLimits {
  /** Most entries an awareness update may hold; more close with 1008 before any is decoded. */
  maxAwarenessEntries?: number
}

/** One client's state in an awareness update, as sent: the state is still JSON text. */
export interface AwarenessEntry {
  clientId: number
  clock: number
  /** The state as JSON; `null` removes the client. */
  json: string
}

/**
 * Decodes and validates one client frame. Throws `ProtocolError` with the close code to use:
 * framing faults → 1002, unknown types → 1003, payloads Yjs or y-protocols would reject → 1007.
 * An update's own bytes are judged where it is applied (Room: the dependency check reads its
 * framing, then Yjs reads all of it before integrating any), not decoded a second time here;
 * everything else is validated completely, so a bad frame never half-changes a document.
 */
export function decodeClientMessage(frame: Uint8Array, limits: DecodeLimits = {}): ClientMessage {
  const decoder = decoding.createDecoder(ownBuffer(frame))
  const type = framed(() => decoding.readVarUint(decoder))
  let message: ClientMessage
  switch (type) {
    case MessageType.sync:
      message = decodeSync(decoder)
      break
    case MessageType.awareness: {
      const update = framed(() => decoding.readVarUint8Array(decoder))
      message = { type: 'awareness', update, entries: decodeAwarenessUpdate(update, limits.maxAwarenessEntries) }
      break
    }
    case MessageType.queryAwareness:
      message = { type: 'query-awareness' }
      break
    case MessageType.auth:
      throw new ProtocolError('QUIRE_UNSUPPORTED_MESSAGE', 'auth messages are sent by the server only')
    default:
      throw new ProtocolError('QUIRE_UNSUPPORTED_MESSAGE', `unknown message type ${type}`)
  }
  if (decoding.hasContent(decoder)) {
    throw new ProtocolError('QUIRE_MALFORMED_FRAME', 'trailing bytes after message')
  }
  return message
}

function decodeSync(decoder: decoding.Decoder): ClientMessage {
  const subtype = framed(() => decoding.readVarUint(decoder))
  const payload = framed(() => decoding.readVarUint8Array(decoder))
  switch (subtype) {
    case sync.messageYjsSyncStep1: {
      let size: number
      try {
        size = Y.decodeStateVector(payload).size
      } catch {
        throw new ProtocolError('QUIRE_INVALID_UPDATE', 'invalid state vector')
      }
      return { type: 'sync-step1', stateVector: payload, isEmpty: size === 0 }
    }
    case sync.messageYjsSyncStep2:
      return { type: 'sync-step2', update: payload }
    case sync.messageYjsUpdate:
      return { type: 'update', update: payload }
    default:
      throw new ProtocolError('QUIRE_UNSUPPORTED_MESSAGE', `unknown sync message type ${subtype}`)
  }
}

/**
 * Mirrors y-protocols' awareness decoding, so applying what passes never throws half-way, and
 * returns the entries for the room's ownership checks (room/presence.ts).
 */
export function decodeAwarenessUpdate(update: Uint8Array, maxEntries = Infinity): AwarenessEntry[] {
  const decoder = decoding.createDecoder(update)
  let count: number
  try {
    count = decoding.readVarUint(decoder)
  } catch {
    throw new ProtocolError('QUIRE_INVALID_AWARENESS', 'invalid awareness update')
  }
  // Each entry takes at least 3 bytes: a count past that is malformed, not a reason to allocate.
  if (count * 3 > update.byteLength) throw new ProtocolError('QUIRE_INVALID_AWARENESS', 'invalid awareness update')
  if (count > maxEntries) {
    throw new ProtocolError('QUIRE_AWARENESS_CLIENTS', `awareness update with ${count} entries, more than the room can have`)
  }
  try {
    const entries: AwarenessEntry[] = []
    for (let i = 0; i < count; i++) {
      const clientId = decoding.readVarUint(decoder)
      const clock = decoding.readVarUint(decoder)
      const json = decoding.readVarString(decoder)
      JSON.parse(json)
      entries.push({ clientId, clock, json })
    }
    if (decoding.hasContent(decoder)) throw new Error('trailing bytes')
    return entries
  } catch {
    throw new ProtocolError('QUIRE_INVALID_AWARENESS', 'invalid awareness update')
  }
}

/** An awareness update holding `entries`, in y-protocols' encoding. */
export function encodeAwarenessEntries(entries: readonly AwarenessEntry[]): Uint8Array {
  return message((e) => {
    encoding.writeVarUint(e, entries.length)
    for (const { clientId, clock, json } of entries) {
      encoding.writeVarUint(e, clientId)
      encoding.writeVarUint(e, clock)
      encoding.writeVarString(e, json)
    }
  })
}

function framed<T>(read: () => T): T {
  try {
    return read()
  } catch {
    throw new ProtocolError('QUIRE_MALFORMED_FRAME', 'malformed message: unexpected end of frame')
  }
}

/**
 * lib0 builds subarrays from `arr.buffer`, so a length prefix past the end of a view into a
 * larger pooled buffer would read neighbouring bytes instead of failing. A frame that ends where
 * its buffer ends makes every overrun throw (decoders only read forward).
 */
export function ownBuffer(frame: Uint8Array): Uint8Array {
  if (frame.byteOffset + frame.byteLength === frame.buffer.byteLength) return frame
  return new Uint8Array(frame)
}

function message(write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder()
  write(encoder)
  return encoding.toUint8Array(encoder)
}

export const encodeSyncStep1 = (stateVector: Uint8Array): Uint8Array =>
  message((e) => {
    encoding.writeVarUint(e, MessageType.sync)
    encoding.writeVarUint(e, sync.messageYjsSyncStep1)
    encoding.writeVarUint8Array(e, stateVector)
  })

export const encodeSyncStep2 = (update: Uint8Array): Uint8Array =>
  message((e) => {
    encoding.writeVarUint(e, MessageType.sync)
    encoding.writeVarUint(e, sync.messageYjsSyncStep2)
    encoding.writeVarUint8Array(e, update)
  })

export const encodeUpdate = (update: Uint8Array): Uint8Array =>
  message((e) => {
    encoding.writeVarUint(e, MessageType.sync)
    encoding.writeVarUint(e, sync.messageYjsUpdate)
    encoding.writeVarUint8Array(e, update)
  })

export const encodeAwareness = (awarenessUpdate: Uint8Array): Uint8Array =>
  message((e) => {
    encoding.writeVarUint(e, MessageType.awareness)
    encoding.writeVarUint8Array(e, awarenessUpdate)
  })

/** y-protocols' permission-denied auth message; the client logs the reason. */
export const encodePermissionDenied = (reason: string): Uint8Array =>
  message((e) => {
    encoding.writeVarUint(e, MessageType.auth)
    encoding.writeVarUint(e, 0)
    encoding.writeVarString(e, reason)
  })
