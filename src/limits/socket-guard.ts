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
import { LimitCloseCode, LimitError, noLimitMetrics, type LimitMetrics, type Limits } from './limits.js'

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
    const { messageBurst, messagesPerSecond, maxBufferedBytes } = this.limits
    const bucket = messagesPerSecond > 0 ? new TokenBucket(messageBurst, messagesPerSecond) : null
    return {
      message: (echo) =>
        echo || !bucket || bucket.take()
          ? null
          : new LimitError('message-rate', LimitCloseCode.policyViolation, `more than ${messagesPerSecond} messages per second`),
      send: (buffered, size) =>
        maxBufferedBytes <= 0 || buffered + size <= maxBufferedBytes
          ? null
          : new LimitError('slow-consumer', LimitCloseCode.tryAgainLater, 'client is not reading fast enough'),
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
  /** Before sending `size` bytes with `buffered` still unsent: null, or the slow-consumer error. */
  send(buffered: number, size: number): LimitError | null
  /** Counts `error` if it is a LimitError. */
  rejected(error: unknown): unknown
}
