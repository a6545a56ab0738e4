/** A connected client as a Room sees it. WebSocket (and later SSE or cluster) peers implement it. */
export interface Peer {
  /** Short id for logs. */
  readonly id: string
  /** Sends one protocol message. A no-op once the peer is closed. */
  send(message: Uint8Array): void
  /** Closes the connection with a WebSocket close code and a reason the client can read. */
  close(code: number, reason: string): void
}

export type { Logger } from '../logger.js'
