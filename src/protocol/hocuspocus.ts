/**
 * The Hocuspocus provider protocol (`@hocuspocus/provider` 3.x and 4.x) as pure functions. Every
 * frame starts with an address — the document name, or `name\0sessionId` when the provider uses
 * v4's `sessionAwareness` — followed by a message whose types 0 (Sync), 1 (Awareness) and
 * 3 (QueryAwareness) are y-websocket's, byte for byte. The rest is Hocuspocus' own: Auth (2),
 * Stateless (5), Close (7), SyncStatus (8), and the connection-level Ping (9) / Pong (10), which
 * are a single byte with no address. Nothing here touches a socket or a document.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { ProtocolError } from './close-codes.js'
import { validateDocumentName } from './document-name.js'
import { ownBuffer } from './messages.js'

export const HocuspocusType = {
  sync: 0,
  awareness: 1,
  auth: 2,
  queryAwareness: 3,
  syncReply: 4,
  stateless: 5,
  close: 7,
  syncStatus: 8,
  ping: 9,
  pong: 10,
} as const

/** Auth submessages: the client sends Token; the server answers PermissionDenied or Authenticated. */
const AuthType = { token: 0, permissionDenied: 1, authenticated: 2 } as const

/** A session id is the provider's random id; anything longer is not one. */
const MAX_SESSION_ID_BYTES = 128

export type Scope = 'read-write' | 'readonly'

/** One client frame, split into its address and the message after it. */
export type HocuspocusFrame =
  | { kind: 'pong' }
  | {
      kind: 'message'
      /** The address as sent; replies carry it unchanged so the provider routes them. */
      address: string
      type: number
      /** The message from its type byte on: for Sync, Awareness and QueryAwareness a y-websocket frame. */
      body: Uint8Array
      /** The decoder, positioned after the type, for Hocuspocus' own messages. */
      decoder: decoding.Decoder
    }

/** Reads a frame's address and type. Throws ProtocolError (1002) when the address cannot be read. */
export function readHocuspocusFrame(frame: Uint8Array): HocuspocusFrame {
  if (frame.byteLength === 1 && frame[0] === HocuspocusType.pong) return { kind: 'pong' }
  frame = ownBuffer(frame) // the address is echoed back: it must not be read from a neighbour's bytes
  const decoder = decoding.createDecoder(frame)
  let address: string
  let type: number
  let typeAt: number
  try {
    address = decoding.readVarString(decoder)
    typeAt = decoder.pos
    type = decoding.readVarUint(decoder)
  } catch {
    throw new ProtocolError('QUIRE_MALFORMED_FRAME', 'malformed message: the document address cannot be read')
  }
  return { kind: 'message', address, type, body: frame.subarray(typeAt), decoder }
}

/**
 * The document an address names: up to the session separator. Checked once per new address, not
 * per frame. Throws ProtocolError (4400) for a name y-websocket would refuse too, or a long session id.
 */
export function documentOfAddress(address: string): string {
  const separator = address.indexOf('\0')
  const name = separator === -1 ? address : address.slice(0, separator)
  validateDocumentName(name)
  if (separator !== -1 && Buffer.byteLength(address, 'utf8') - Buffer.byteLength(name, 'utf8') - 1 > MAX_SESSION_ID_BYTES) {
    throw new ProtocolError('QUIRE_BAD_DOCUMENT_NAME', `session id longer than ${MAX_SESSION_ID_BYTES} bytes`)
  }
  return name
}

/** The token of an Auth message (the provider's version string may follow; it is not needed). */
export function readAuthToken(decoder: decoding.Decoder): string {
  try {
    const subtype = decoding.readVarUint(decoder)
    if (subtype !== AuthType.token) throw new ProtocolError('QUIRE_UNSUPPORTED_MESSAGE', `auth message of type ${subtype} is sent by the server only`)
    return decoding.readVarString(decoder)
  } catch (error) {
    if (error instanceof ProtocolError) throw error
    throw new ProtocolError('QUIRE_MALFORMED_FRAME', 'malformed auth message')
  }
}

export function readStatelessPayload(decoder: decoding.Decoder): string {
  try {
    const payload = decoding.readVarString(decoder)
    if (decoding.hasContent(decoder)) throw new Error('trailing bytes')
    return payload
  } catch {
    throw new ProtocolError('QUIRE_MALFORMED_FRAME', 'malformed stateless message')
  }
}

/** The address as the varstring every server frame for it starts with; encoded once per document. */
export function encodeAddress(address: string): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, address)
  return encoding.toUint8Array(encoder)
}

/** A y-websocket frame addressed to one Hocuspocus document. */
export function addressed(prefix: Uint8Array, frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.byteLength + frame.byteLength)
  out.set(prefix, 0)
  out.set(frame, prefix.byteLength)
  return out
}

function message(prefix: Uint8Array, write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeUint8Array(encoder, prefix)
  write(encoder)
  return encoding.toUint8Array(encoder)
}

export const encodeAuthenticated = (prefix: Uint8Array, scope: Scope): Uint8Array =>
  message(prefix, (e) => {
    encoding.writeVarUint(e, HocuspocusType.auth)
    encoding.writeVarUint(e, AuthType.authenticated)
    encoding.writeVarString(e, scope)
  })

export const encodeHocuspocusPermissionDenied = (prefix: Uint8Array, reason: string): Uint8Array =>
  message(prefix, (e) => {
    encoding.writeVarUint(e, HocuspocusType.auth)
    encoding.writeVarUint(e, AuthType.permissionDenied)
    encoding.writeVarString(e, reason)
  })

/** The acknowledgement the provider counts `unsyncedChanges` down with (`saved` false: refused). */
export const encodeSyncStatus = (prefix: Uint8Array, saved: boolean): Uint8Array =>
  message(prefix, (e) => {
    encoding.writeVarUint(e, HocuspocusType.syncStatus)
    encoding.writeVarUint(e, saved ? 1 : 0)
  })

export const encodeStateless = (prefix: Uint8Array, payload: string): Uint8Array =>
  message(prefix, (e) => {
    encoding.writeVarUint(e, HocuspocusType.stateless)
    encoding.writeVarString(e, payload)
  })

/** Tells the provider the server closed this document (the socket stays open). */
export const encodeClose = (prefix: Uint8Array, reason: string): Uint8Array =>
  message(prefix, (e) => {
    encoding.writeVarUint(e, HocuspocusType.close)
    encoding.writeVarString(e, reason)
  })
