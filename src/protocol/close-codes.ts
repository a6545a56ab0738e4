/**
 * WebSocket close codes Quire uses. 1xxx are RFC 6455 codes; 4xxx are private codes whose
 * 44xx range mirrors HTTP 4xx. y-websocket ≥ 3.1 stops reconnecting on 4400–4499, so those are
 * reserved for decisions a retry cannot change.
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
  /** Frame larger than the configured maximum. */
  messageTooBig: 1009,
  /** Storage failed or the document could not be loaded. */
  internalError: 1011,
  /** Invalid document name in the URL. */
  badDocumentName: 4400,
  /** Missing, invalid or expired token (auth/). */
  unauthorized: 4401,
  /** The token grants no access to this document. */
  forbidden: 4403,
  /** The document was deleted (REST `DELETE`); reconnecting would only recreate it empty. */
  documentDeleted: 4404,
} as const

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode]

/** A frame the server refuses. The connection that sent it is closed with `code` and `reason`. */
export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    reason: string,
  ) {
    super(reason)
    this.name = 'ProtocolError'
  }
}

/** RFC 6455 caps a close reason at 123 bytes of UTF-8. */
export function closeReason(text: string): string {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= 123) return text
  return bytes.subarray(0, 120).toString('utf8').replace(/\uFFFD+$/, '') + '...'
}
