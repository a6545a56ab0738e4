/**
 * Protective limits: their names (the fixed label set of `quire_limit_rejections_total`), the
 * error a limit raises, and the defaults. Defaults are generous: they stop runaway or hostile
 * clients without touching a busy but normal deployment (or the bench: 2000 sockets from one IP).
 */
import { ProtocolError, type CloseErrorCode } from '../protocol/close-codes.js'

export const LIMIT_NAMES = [
  'frame-size',
  'connections',
  'connections-per-ip',
  'rooms',
  'message-rate',
  'document-size',
  'slow-consumer',
  'rest-rate',
  'queue-before-join',
  'awareness-clients',
  'awareness-size',
] as const

export type LimitName = (typeof LIMIT_NAMES)[number]

/** A limit refused something; the connection closes with `code` and the reason. */
export class LimitError extends ProtocolError {
  constructor(
    readonly limit: LimitName,
    code: CloseErrorCode,
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
  /**
   * A connection closes with 1013 when a frame is due while more than this is still unsent. It
   * bounds what waits, not one frame: a document the quota accepts can always be sent whole.
   */
  maxBufferedBytes: number
  /** Frames held while a connection is authorised or its document loads (1008 past it)… */
  maxQueuedMessages: number
  /** …and their bytes beyond the first frame, which always fits whatever its size. */
  maxQueuedBytes: number
  /** Awareness client ids one connection may announce (a y-websocket client uses one); 1008 past it. */
  maxAwarenessClients: number
  /** Bytes of one awareness state (its JSON); 4413 past it. */
  maxAwarenessBytes: number
  /** Documents one Hocuspocus connection may have open or waiting for auth; one more is refused alone. */
  maxDocumentsPerConnection: number
}

export const DEFAULT_LIMITS: Limits = {
  maxConnections: 20_000,
  maxConnectionsPerIp: 0,
  maxRooms: 10_000,
  messageBurst: 2000,
  messagesPerSecond: 200,
  maxDocumentBytes: 64 * 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 8 * 1024 * 1024,
  maxAwarenessClients: 8,
  maxAwarenessBytes: 32 * 1024,
  maxDocumentsPerConnection: 100,
}
