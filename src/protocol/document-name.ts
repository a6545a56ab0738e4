import { ProtocolError } from './close-codes.js'

/** Longest document name accepted, in UTF-8 bytes. */
export const MAX_DOCUMENT_NAME_BYTES = 1024

/**
 * The document (room) name is the URL path after `basePath`, percent-decoded, query string
 * removed: `ws://host/team-a/spec?token=…` → `team-a/spec`. The same name a y-websocket client
 * passes as `roomname`.
 */
export function documentNameFromUrl(url: string, basePath = '/'): string {
  const path = url.split('?', 1)[0] ?? ''
  const base = basePath.endsWith('/') ? basePath : basePath + '/'
  if (!path.startsWith(base)) throw invalid('path is outside the collaboration endpoint')
  let name: string
  try {
    name = decodeURIComponent(path.slice(base.length))
  } catch {
    throw invalid('document name is not valid percent-encoding')
  }
  validateDocumentName(name)
  return name
}

export function validateDocumentName(name: string): void {
  if (name.length === 0) throw invalid('document name is empty')
  if (Buffer.byteLength(name, 'utf8') > MAX_DOCUMENT_NAME_BYTES) {
    throw invalid(`document name is longer than ${MAX_DOCUMENT_NAME_BYTES} bytes`)
  }
  // Control characters have no place in a name, and NUL separates keys in storage.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(name)) throw invalid('document name contains control characters')
  if (!name.isWellFormed()) throw invalid('document name is not well-formed Unicode')
}

function invalid(reason: string): ProtocolError {
  return new ProtocolError('QUIRE_BAD_DOCUMENT_NAME', reason)
}
