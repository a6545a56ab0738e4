/**
 * The messages instances exchange on Redis, as compact binary (lib0 encoding): a format byte,
 * the message type, the sending instance, then the type's fields. Document messages travel on
 * the document's own channel, so they do not repeat its name.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

/** Bumped on any incompatible change: an instance ignores messages of another format. */
const FORMAT = 1

export type DocMessage =
  /** An update the sender stored under `seq`. */
  | { type: 'update'; instance: string; seq: number; update: Uint8Array }
  /** The sender stored an update too large to carry under `seq`: read it from the store. */
  | { type: 'stored'; instance: string; seq: number }
  /** Awareness states of the sender's clients (a y-protocols awareness update). */
  | { type: 'awareness'; instance: string; update: Uint8Array }
  /** The sender just opened the document: others answer with their clients' awareness. */
  | { type: 'awareness-query'; instance: string }
  /** The sender deleted the document. */
  | { type: 'deleted'; instance: string }
  /** A stateless message (Hocuspocus protocol) one of the sender's clients sent. */
  | { type: 'stateless'; instance: string; payload: string }
  /** An awareness update POSTed to the sender for an event stream another instance holds (docs/sse.md). */
  | { type: 'stream-awareness'; instance: string; stream: string; update: Uint8Array }

export type InstanceMessage =
  /**
   * The sender is alive; `heads` holds the last seq it stored for each document it wrote to since
   * its previous heartbeat went out, so that a missed last update is noticed.
   */
  | { type: 'heartbeat'; instance: string; heads: Array<[name: string, seq: number]> }
  /** The sender is shutting down: its clients' awareness states go now, not at expiry. */
  | { type: 'bye'; instance: string }

export type BusMessage = DocMessage | InstanceMessage

// Appended to, never reordered: the index is the wire type, and an instance ignores types it does not know.
const TYPES = ['update', 'awareness', 'awareness-query', 'deleted', 'heartbeat', 'bye', 'stored', 'stateless', 'stream-awareness'] as const

export function encodeBusMessage(message: BusMessage): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeUint8(encoder, FORMAT)
  encoding.writeUint8(encoder, TYPES.indexOf(message.type))
  encoding.writeVarString(encoder, message.instance)
  switch (message.type) {
    case 'update':
      encoding.writeVarUint(encoder, message.seq)
      encoding.writeVarUint8Array(encoder, message.update)
      break
    case 'awareness':
      encoding.writeVarUint8Array(encoder, message.update)
      break
    case 'stored':
      encoding.writeVarUint(encoder, message.seq)
      break
    case 'stateless':
      encoding.writeVarString(encoder, message.payload)
      break
    case 'stream-awareness':
      encoding.writeVarString(encoder, message.stream)
      encoding.writeVarUint8Array(encoder, message.update)
      break
    case 'heartbeat':
      encoding.writeVarUint(encoder, message.heads.length)
      for (const [name, seq] of message.heads) {
        encoding.writeVarString(encoder, name)
        encoding.writeVarUint(encoder, seq)
      }
      break
  }
  return encoding.toUint8Array(encoder)
}

/** Null for a message of another format or one that does not decode. */
export function decodeBusMessage(bytes: Uint8Array): BusMessage | null {
  try {
    const decoder = decoding.createDecoder(bytes)
    if (decoding.readUint8(decoder) !== FORMAT) return null
    const type = TYPES[decoding.readUint8(decoder)]
    const instance = decoding.readVarString(decoder)
    let message: BusMessage
    switch (type) {
      case 'update': {
        const seq = decoding.readVarUint(decoder)
        message = { type, instance, seq, update: decoding.readVarUint8Array(decoder) }
        break
      }
      case 'awareness':
        message = { type, instance, update: decoding.readVarUint8Array(decoder) }
        break
      case 'stored':
        message = { type, instance, seq: decoding.readVarUint(decoder) }
        break
      case 'stateless':
        message = { type, instance, payload: decoding.readVarString(decoder) }
        break
      case 'stream-awareness': {
        const stream = decoding.readVarString(decoder)
        message = { type, instance, stream, update: decoding.readVarUint8Array(decoder) }
        break
      }
      case 'heartbeat': {
        const count = decoding.readVarUint(decoder)
        const heads: Array<[string, number]> = []
        for (let i = 0; i < count; i++) heads.push([decoding.readVarString(decoder), decoding.readVarUint(decoder)])
        message = { type, instance, heads }
        break
      }
      case 'awareness-query':
      case 'deleted':
      case 'bye':
        message = { type, instance }
        break
      default:
        return null
    }
    return decoding.hasContent(decoder) ? null : message
  } catch {
    return null
  }
}

/** An instance id as message headers carry it, for `sentBy`. */
export function encodeInstanceId(instance: string): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, instance)
  return encoding.toUint8Array(encoder)
}

/**
 * True if `bytes` was sent by the instance whose encoded id is `id`, read from the header alone.
 * Redis delivers an instance's publications back to it (it subscribes to the same channels):
 * this skips decoding their payloads.
 */
export function sentBy(bytes: Uint8Array, id: Uint8Array): boolean {
  if (bytes.byteLength < 2 + id.byteLength) return false
  for (let i = 0; i < id.byteLength; i++) if (bytes[2 + i] !== id[i]) return false
  return true
}
