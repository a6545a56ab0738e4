/**
 * What the transport reports about its connections. The core only knows this interface, so it
 * never depends on prom-client; `QuireMetrics` implements it, `noTransportMetrics` ignores it.
 */
import type { CloseErrorCode } from '../protocol/close-codes.js'

/** The wire protocols clients speak: a label on connection metrics. */
export type WireProtocol = 'y-websocket' | 'hocuspocus' | 'sse'

export interface TransportMetrics {
  connectionOpened(protocol?: WireProtocol): void
  /** A connection joined (+1) or left (-1) a document's room: one per document on a Hocuspocus socket. */
  peers?(protocol: WireProtocol, delta: 1 | -1): void
  /** The server closed a connection for a reason in the catalogue. */
  connectionError(code: CloseErrorCode): void
  connectionClosed(code: number): void
  /** One client frame of `bytes`; `type` is the decoded message type, or `invalid`. */
  received(type: string, bytes: number): void
  /** One server frame sent to one connection. */
  sent(frame: Uint8Array): void
  /** Time the room took to apply a client update (Yjs integrate, encode, queue for storage). */
  updateApplied(seconds: number): void
}

export const noTransportMetrics: TransportMetrics = {
  connectionOpened() {},
  connectionError() {},
  connectionClosed() {},
  received() {},
  sent() {},
  updateApplied() {},
}

const SYNC_TYPES = ['sync-step1', 'sync-step2', 'update']
const TYPES = ['sync', 'awareness', 'auth', 'query-awareness']

/**
 * Message type of an encoded frame from its first bytes, without decoding it. Types and
 * subtypes below 128 are one-byte varints, which covers every message of the protocol.
 */
export function frameType(frame: Uint8Array): string {
  const type = frame[0]
  if (type === 0) return SYNC_TYPES[frame[1] ?? -1] ?? 'other'
  return (type !== undefined && TYPES[type]) || 'other'
}

/** What the storage wrapper (`instrumentStore`) reports. */
export interface StorageMetrics {
  /** Time from an append to its commit: group-commit wait plus the LevelDB batch write. */
  /** One append of `bytes` committed after `seconds`. */
  storageWrite(seconds: number, bytes: number): void
  storageError(operation: 'load' | 'append' | 'compact'): void
  compaction(): void
}
