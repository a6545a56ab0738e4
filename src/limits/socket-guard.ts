/**
 * The WebSocket side of the limits, so the transport calls a few methods instead of holding the
 * policy: connection counting at upgrade, a message-rate bucket per connection, and the
 * slow-consumer check at send time.
 *
 * Refused connections are accepted and then closed with a code and reason rather than refused
 * at the HTTP upgrade: a browser's WebSocket API hides the HTTP status of a failed upgrade (it
 * only sees close code 1006), but it does see a close code and its reason.
 */
import { ConnectionLimiter } from './connections.js'
import { TokenBucket } from './token-bucket.js'
import { LimitError, noLimitMetrics, type LimitMetrics, type Limits } from './limits.js'

export class SocketGuard {
  private readonly connections: ConnectionLimiter

  constructor(
    readonly limits: Limits,
    private readonly metrics: LimitMetrics = noLimitMetrics,
  ) {
    this.connections = new ConnectionLimiter(limits.maxConnections, limits.maxConnectionsPerIp)
  }

  /** Counts a connection; returns its release, or the LimitError to close it with (already counted). */
  admit(ip: string | undefined): (() => void) | LimitError {
    try {
      return this.connections.admit(ip ?? 'unknown')
    } catch (error) {
      if (error instanceof LimitError) return this.rejected(error)
      throw error
    }
  }

  /** Per-connection checks. They return the error to close with; `rejected` counts it. */
  connection(): ConnectionGuard {
    const { messageBurst, messagesPerSecond, maxBufferedBytes, maxQueuedMessages, maxQueuedBytes } = this.limits
    const bucket = messagesPerSecond > 0 ? new TokenBucket(messageBurst, messagesPerSecond) : null
    return {
      message: (echo) =>
        echo || !bucket || bucket.take()
          ? null
          : new LimitError('message-rate', 'QUIRE_MESSAGE_RATE', `more than ${messagesPerSecond} messages per second`),
      // What already waits decides, not the frame: one frame larger than the bound (the
      // SyncStep2 of a document the quota allows) still goes to a client that keeps up.
      send: (buffered) =>
        maxBufferedBytes <= 0 || buffered <= maxBufferedBytes
          ? null
          : new LimitError('slow-consumer', 'QUIRE_SLOW_CONSUMER', 'client is not reading fast enough'),
      queue: (count, bytes, size) =>
        (maxQueuedMessages > 0 && count >= maxQueuedMessages) || (maxQueuedBytes > 0 && count > 0 && bytes + size > maxQueuedBytes)
          ? new LimitError('queue-before-join', 'QUIRE_QUEUE_FULL', `more than ${maxQueuedMessages} messages or ${maxQueuedBytes} bytes before the document was ready`)
          : null,
      rejected: (error) => this.rejected(error),
    }
  }

  /** Counts a refusal; returns the error for chaining. */
  rejected<E>(error: E): E {
    if (error instanceof LimitError) this.metrics.limitRejected(error.limit)
    return error
  }

  frameTooBig(): void {
    this.metrics.limitRejected('frame-size')
  }
}

export interface ConnectionGuard {
  /** One decoded incoming message (an awareness echo is free): null, or the rate-limit error. */
  message(echo: boolean): LimitError | null
  /** Before sending a frame while `buffered` bytes are still unsent: null, or the slow-consumer error. */
  send(buffered: number): LimitError | null
  /**
   * Before queueing a frame of `size` bytes behind `count` frames of `bytes` while the connection
   * is not yet joined: null, or the error. The first frame always fits, whatever its size.
   */
  queue(count: number, bytes: number, size: number): LimitError | null
  /** Counts `error` if it is a LimitError. */
  rejected(error: unknown): unknown
}
