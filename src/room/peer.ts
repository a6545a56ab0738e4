import type { CloseErrorCode } from '../protocol/close-codes.js'

/** A connected client as a Room sees it. WebSocket (and later SSE or cluster) peers implement it. */
export interface Peer {
  /** Short id for logs. */
  readonly id: string
  /** Sends one protocol message. A no-op once the peer is closed. */
  send(message: Uint8Array): void
  /** Closes the connection with the error's close code and a reason the client can read. */
  close(code: CloseErrorCode, reason: string): void
  /** Set for a read-only connection (see auth/): the room drops its document writes. */
  readOnly?: ReadOnly
  /** The authenticated subject (the token's `sub`), for change events; unset when anonymous. */
  subject?: string
}

export interface ReadOnly {
  /** Drop its awareness updates too, instead of relaying them. */
  readonly dropAwareness: boolean
  /** Called for each update or SyncStep2 dropped unapplied. */
  dropped(): void
}

export type { Logger } from '../logger.js'
