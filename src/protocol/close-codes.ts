/**
 * The one catalogue of the ways Quire closes a connection. Every refusal has a stable error code
 * string (like `ws`'s `WS_ERR_*` and Fastify's `FST_ERR_*`): logs carry it, metrics count it, and
 * docs/errors.md lists it (a test keeps that page in step with this table).
 *
 * 1xxx close codes are RFC 6455's; 4xxx are private codes whose 44xx range mirrors HTTP 4xx.
 * y-websocket clients reconnect after any close; 44xx mark decisions a retry cannot change.
 */
export const CloseCode = {
  /** Server shutting down or document unloading. */
  goingAway: 1001,
  /** Malformed frame: truncated varint, length prefix past the end, trailing bytes. */
  protocolError: 1002,
  /** Unknown message type, or a text frame. */
  unsupportedData: 1003,
  /** Well-framed message whose payload is invalid (an update Yjs cannot apply, bad awareness JSON). */
  invalidPayload: 1007,
  /** The client broke a limit that is its own doing: message rate, queue before join, presence ids. */
  policyViolation: 1008,
  /** Frame larger than the configured maximum. */
  messageTooBig: 1009,
  /** Storage failed or the document could not be loaded. */
  internalError: 1011,
  /** Server full, too many rooms, a client that does not read, keys unavailable: retrying later may work. */
  tryAgainLater: 1013,
  /** Invalid document name in the URL. */
  badDocumentName: 4400,
  /** Missing, invalid or expired token (auth/). */
  unauthorized: 4401,
  /** The token, or the page's origin, grants no access to this document. */
  forbidden: 4403,
  /** The document was deleted (REST `DELETE`); reconnecting would only recreate it empty. */
  documentDeleted: 4404,
  /** The document, or one awareness state, would be larger than allowed. */
  tooLarge: 4413,
} as const

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode]

interface CloseErrorSpec {
  close: CloseCodeValue
  /** What happened, for docs/errors.md; the close reason sent says it for the case at hand. */
  summary: string
}

export const CLOSE_ERRORS = {
  QUIRE_SHUTTING_DOWN: { close: 1001, summary: 'The server is shutting down. Clients reconnect to it (or another instance) later.' },
  QUIRE_STREAM_RESYNC: {
    close: 1001,
    summary:
      'An SSE event stream received more than 4096 updates out of order (several instances, a gap filled by reloading the document) and ended; its client resumes from the last event id it got.',
  },
  QUIRE_MALFORMED_FRAME: { close: 1002, summary: 'A frame ends early, has a length prefix past its end, or trailing bytes.' },
  QUIRE_UNSUPPORTED_MESSAGE: { close: 1003, summary: 'A text frame, an unknown message type, or an auth message (which only the server sends).' },
  QUIRE_INVALID_UPDATE: { close: 1007, summary: 'A state vector or update Yjs cannot decode or apply.' },
  QUIRE_MISSING_DEPENDENCIES: {
    close: 1007,
    summary:
      'An update (after the client\'s SyncStep2) or a SyncStep2 that depends on changes the server does not have. Nothing of it is kept; the client catches up by syncing on reconnect.',
  },
  QUIRE_INVALID_AWARENESS: { close: 1007, summary: 'An awareness update that does not decode, or whose state is not JSON.' },
  QUIRE_MESSAGE_RATE: { close: 1008, summary: 'The connection sent more messages per second than --messages-per-second allows.' },
  QUIRE_QUEUE_FULL: {
    close: 1008,
    summary: 'More messages or bytes arrived while the connection was being authorised or its document loaded than the pre-join queue holds.',
  },
  QUIRE_AWARENESS_CLIENTS: { close: 1008, summary: 'The connection announced presence for more client ids than --max-awareness-clients allows.' },
  QUIRE_TOO_MANY_DOCUMENTS: {
    close: 1008,
    summary:
      'A Hocuspocus connection asked for more documents at once than --max-documents-per-connection allows. Only that document is refused (permission-denied); the others stay open.',
  },
  QUIRE_FRAME_TOO_BIG: { close: 1009, summary: 'A frame larger than --max-frame-bytes.' },
  QUIRE_INTERNAL: { close: 1011, summary: 'An unexpected server fault while handling a frame; it is logged.' },
  QUIRE_STORAGE_FAILED: { close: 1011, summary: 'Storing an update failed; the document closed without acknowledging it.' },
  QUIRE_LOAD_FAILED: { close: 1011, summary: 'The document could not be loaded from storage.' },
  QUIRE_SERVER_FULL: { close: 1013, summary: 'The server holds --max-connections connections.' },
  QUIRE_TOO_MANY_FROM_ADDRESS: { close: 1013, summary: 'The client address holds --max-connections-per-ip connections.' },
  QUIRE_TOO_MANY_ROOMS: { close: 1013, summary: 'Loading one more document would pass --max-rooms.' },
  QUIRE_SLOW_CONSUMER: { close: 1013, summary: 'More than --max-buffered-bytes were waiting to be sent to a client that does not read.' },
  QUIRE_AUTH_UNAVAILABLE: { close: 1013, summary: 'The signing keys (JWKS) could not be fetched.' },
  QUIRE_BAD_DOCUMENT_NAME: { close: 4400, summary: "The document name in the URL (or a Hocuspocus frame's address) is empty, too long, or not valid UTF-8." },
  QUIRE_UNAUTHORIZED: { close: 4401, summary: 'The token is missing, invalid, or expired (also sent when it expires during the connection).' },
  QUIRE_FORBIDDEN: { close: 4403, summary: 'The token grants no access to this document.' },
  QUIRE_ORIGIN_REFUSED: { close: 4403, summary: 'The page opening the connection is on an origin --allowed-origins does not list.' },
  QUIRE_DOCUMENT_DELETED: { close: 4404, summary: 'The document was deleted while the connection was open.' },
  QUIRE_DOCUMENT_TOO_LARGE: { close: 4413, summary: 'Applying the update would pass --max-document-bytes.' },
  QUIRE_AWARENESS_TOO_LARGE: { close: 4413, summary: 'One awareness state is larger than --max-awareness-bytes.' },
} as const satisfies Record<string, CloseErrorSpec>

export type CloseErrorCode = keyof typeof CLOSE_ERRORS

/**
 * Something the server refuses. The connection it came from is closed with `closeCode` and the
 * message as reason; nothing else (the document, other peers) is touched.
 */
export class ProtocolError extends Error {
  readonly closeCode: number

  constructor(
    /** Stable error code, e.g. `QUIRE_MESSAGE_RATE`. */
    readonly code: CloseErrorCode,
    reason: string,
  ) {
    super(reason)
    this.name = 'ProtocolError'
    this.closeCode = CLOSE_ERRORS[code].close
  }
}

/** Close codes with a meaning here: the bounded label set of the close metrics. */
export const KNOWN_CLOSE_CODES: ReadonlySet<number> = new Set<number>([1000, 1005, 1006, ...Object.values(CloseCode)])

/** RFC 6455 caps a close reason at 123 bytes of UTF-8. */
export function closeReason(text: string): string {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= 123) return text
  return bytes.subarray(0, 120).toString('utf8').replace(/\uFFFD+$/, '') + '...'
}
