/**
 * Coalesces a room's awareness changes into one message per window. Cursors move many times a
 * second per user; relaying each change to every peer costs one frame per change per peer. Sent
 * once per window, a room of 50 users moving 10 times a second gets 60 frames a second per peer
 * instead of 500, and a client that moved five times in the window sends one state: the latest.
 * The window (default 16 ms, one frame at 60 Hz) is the latency this adds.
 */
import { encodeAwarenessUpdate, type Awareness } from 'y-protocols/awareness'
import { encodeAwareness } from '../protocol/messages.js'

export class AwarenessBatch {
  private readonly changed = new Set<number>()
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly awareness: Awareness,
    private readonly windowMs: number,
    private readonly send: (frame: Uint8Array) => void,
  ) {}

  /** Queues these ids' current states (or removals) for the next message. */
  add(ids: readonly number[]): void {
    for (const id of ids) this.changed.add(id)
    if (this.windowMs <= 0) return this.flush()
    this.timer ??= setTimeout(() => this.flush(), this.windowMs)
  }

  /** Sends what is queued now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    // An id removed long enough ago has had its clock forgotten (presence.ts): nothing left to say.
    const ids = [...this.changed].filter((id) => this.awareness.meta.has(id))
    this.changed.clear()
    if (ids.length > 0) this.send(encodeAwareness(encodeAwarenessUpdate(this.awareness, ids)))
  }

  /** Drops what is queued (the room closed). */
  clear(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.changed.clear()
  }
}
