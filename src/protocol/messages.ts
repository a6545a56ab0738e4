/**
 * The y-websocket wire protocol as pure functions: bytes in, typed message out, and the encoders
 * for what the server sends. Nothing here touches a socket or a document.
 */
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as sync from 'y-protocols/sync'
import { CloseCode, ProtocolError } from './close-codes.js'

export const MessageType = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const

export type ClientMessage =
  | { type: 'sync-step1'; stateVector: Uint8Array; isEmpty: boolean }
  | { type: 'sync-step2'; update: Uint8Array }
  | { type: 'update'; update: Uint8Array }
  | { type: 'awareness'; update: Uint8Array }
  | { type: 'query-awareness' }

/**
 * Decodes and validates one client frame. Throws `ProtocolError` with the close code to use:
 * framing faults → 1002, unknown types → 1003, payloads Yjs or y-protocols would reject → 1007.
 * Validation is complete before anything is applied, so a bad frame never half-changes a document.
 */
export function decodeClientMessage(frame: Uint8Array): ClientMessage {
  const decoder = decoding.createDecoder(ownBuffer(frame))
  const type = framed(() => decoding.readVarUint(decoder))
  let message: ClientMessage
  switch (type) {
    case MessageType.sync:
      message = decodeSync(decoder)
      break
    case MessageType.awareness: {
      const update = framed(() => decoding.readVarUint8Array(decoder))
      validateAwarenessUpdate(update)
      message = { type: 'awareness', update }
      break
    }
    case MessageType.queryAwareness:
      message = { type: 'query-awareness' }
      break
    case MessageType.auth:
      throw new ProtocolError(CloseCode.unsupportedData, 'auth messages are sent by the server only')
    default:
      throw new ProtocolError(CloseCode.unsupportedData, `unknown message type ${type}`)
  }
  if (decoding.hasContent(decoder)) {
    throw new ProtocolError(CloseCode.protocolError, 'trailing bytes after message')
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
        throw new ProtocolError(CloseCode.invalidPayload, 'invalid state vector')
      }
      return { type: 'sync-step1', stateVector: payload, isEmpty: size === 0 }
    }
    case sync.messageYjsSyncStep2:
      validateUpdate(payload)
      return { type: 'sync-step2', update: payload }
    case sync.messageYjsUpdate:
      validateUpdate(payload)
      return { type: 'update', update: payload }
    default:
      throw new ProtocolError(CloseCode.unsupportedData, `unknown sync message type ${subtype}`)
  }
}

/** Decodes the whole update (structs and delete set) without integrating it anywhere. */
function validateUpdate(update: Uint8Array): void {
  try {
    Y.decodeUpdate(update)
  } catch {
    throw new ProtocolError(CloseCode.invalidPayload, 'update cannot be decoded')
  }
}

/** Mirrors y-protocols' awareness decoding so applyAwarenessUpdate never throws half-way. */
function validateAwarenessUpdate(update: Uint8Array): void {
  try {
    const decoder = decoding.createDecoder(update)
    const count = decoding.readVarUint(decoder)
    for (let i = 0; i < count; i++) {
      decoding.readVarUint(decoder) // clientID
      decoding.readVarUint(decoder) // clock
      JSON.parse(decoding.readVarString(decoder))
    }
    if (decoding.hasContent(decoder)) throw new Error('trailing bytes')
  } catch {
    throw new ProtocolError(CloseCode.invalidPayload, 'invalid awareness update')
  }
}

function framed<T>(read: () => T): T {
  try {
    return read()
  } catch {
    throw new ProtocolError(CloseCode.protocolError, 'malformed message: unexpected end of frame')
  }
}

/**
 * lib0 builds subarrays from `arr.buffer`, so a length prefix past the end of a view into a
 * larger pooled buffer would read neighbouring bytes instead of failing. A frame that owns its
 * buffer makes every overrun throw.
 */
function ownBuffer(frame: Uint8Array): Uint8Array {
  if (frame.byteOffset === 0 && frame.buffer.byteLength === frame.byteLength) return frame
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
