import type { CloseErrorCode } from '../protocol/close-codes.js'

/** A connected client as a Room sees it. WebSocket (and later SSE or cluster) peers implement it. */
export interface Peer {
  /** Short id for logs. */
  readonly id: string
  /** Sends one protocol message. A no-op once the peer is closed. */
  send(message: Uint8Array): void
  /** Receives another peer's stateless message; absent where the protocol has none (y-websocket). */
  stateless?(payload: string): void
  /** Closes the connection with the error's close code and a reason the client can read. */
  close(code: CloseErrorCode, reason: string): void
  /** Set for a read-only connection (see auth/): the room drops its document writes. */
  readOnly?: ReadOnly
  /** The authenticated subject (the token's `sub`), for change events; unset when anonymous. */
  subject?: string
  /** What carries it, for connection events; unset for the server's own holds. */
  readonly transport?: 'websocket' | 'sse' | 'hocuspocus'
  /** How it closed (a WebSocket close code), set by the transport before it leaves its room. */
  closeCode?: number
}

export interface ReadOnly {
  /** Drop its awareness updates too, instead of relaying them. */
  readonly dropAwareness: boolean
  /** Called for each update or SyncStep2 dropped unapplied. */
  dropped(): void
}

export type { Logger } from '../logger.js'
