/**
 * Protective limits: their names (the fixed label set of `quire_limit_rejections_total`), the
 * error a limit raises, and the defaults. Defaults are generous: they stop runaway or hostile
 * clients without touching a busy but normal deployment (or the bench: 2000 sockets from one IP).
 */
import { ProtocolError } from '../protocol/close-codes.js'

export const LIMIT_NAMES = [
  'frame-size',
  'connections',
  'connections-per-ip',
  'rooms',
  'message-rate',
  'document-size',
  'slow-consumer',
  'rest-rate',
] as const

export type LimitName = (typeof LIMIT_NAMES)[number]

/** Close codes of the limits (besides 1009 for frames, which `ws` sends itself). */
export const LimitCloseCode = {
  /** Server full, too many rooms, or the client does not read fast enough: retrying later may work. */
  tryAgainLater: 1013,
  /** Message rate exceeded. */
  policyViolation: 1008,
  /** The update would push the document past its size quota; a retry cannot help. */
  documentTooLarge: 4413,
} as const

/** A limit refused something; the connection closes with `code` and the reason. */
export class LimitError extends ProtocolError {
  constructor(
    readonly limit: LimitName,
    code: number,
    reason: string,
  ) {
    super(code, reason)
    this.name = 'LimitError'
  }
}

/** Receives one count per refusal. `QuireMetrics` implements it. */
export interface LimitMetrics {
  limitRejected(limit: LimitName): void
}

export const noLimitMetrics: LimitMetrics = { limitRejected() {} }

/** Every limit; 0 disables the numeric ones. */
export interface Limits {
  maxConnections: number
  maxConnectionsPerIp: number
  maxRooms: number
  /** Token bucket per connection: this many messages at once… */
  messageBurst: number
  /** …refilled at this many per second. */
  messagesPerSecond: number
  /** Running estimate of a document's encoded size; an update past it closes with 4413. */
  maxDocumentBytes: number
  /** A connection whose unsent buffer would pass this closes with 1013. */
  maxBufferedBytes: number
}

export const DEFAULT_LIMITS: Limits = {
  maxConnections: 20_000,
  maxConnectionsPerIp: 0,
  maxRooms: 10_000,
  messageBurst: 2000,
  messagesPerSecond: 200,
  maxDocumentBytes: 64 * 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
}
