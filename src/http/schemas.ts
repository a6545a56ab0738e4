/**
 * JSON schemas of the REST routes. Fastify validates requests and serializes responses with them,
 * and @fastify/swagger builds the OpenAPI document from the same objects, so the documentation
 * cannot drift from what the server does.
 */
import { MAX_DOCUMENT_NAME_BYTES } from '../protocol/document-name.js'

/** Shared schemas, registered with addSchema; they become OpenAPI components. */
export const sharedSchemas = [
  {
    $id: 'QuireError',
    type: 'object',
    description: 'Every error, 4xx and 5xx',
    required: ['statusCode', 'error', 'message'],
    properties: {
      statusCode: { type: 'integer', example: 404 },
      error: { type: 'string', description: 'HTTP reason phrase', example: 'Not Found' },
      message: { type: 'string', example: 'document "team-a/spec" not found' },
    },
  },
  {
    $id: 'QuireDocument',
    type: 'object',
    required: ['name', 'updates', 'bytes', 'loaded', 'connections'],
    properties: {
      name: { type: 'string', example: 'team-a/spec' },
      updates: { type: 'integer', description: 'Updates ever stored (the last sequence number); 0 if nothing is stored yet' },
      bytes: { type: 'integer', description: 'Bytes stored: compacted state plus log' },
      logUpdates: { type: 'integer', description: 'Updates in the log, not yet compacted into the stored state; absent until something is stored' },
      createdAt: { type: 'string', format: 'date-time', description: 'Absent until something is stored' },
      updatedAt: { type: 'string', format: 'date-time', description: 'Last stored change' },
      loaded: { type: 'boolean', description: 'In memory, being edited' },
      connections: { type: 'integer', description: 'Live WebSocket connections' },
      quotaBytes: {
        type: 'integer',
        description: 'Loaded documents only: the running size estimate that --max-document-bytes is checked against (stored bytes at load plus every update since, exact after each compaction)',
      },
    },
  },
  {
    $id: 'QuireStateVector',
    type: 'object',
    required: ['stateVector', 'clocks'],
    properties: {
      stateVector: { type: 'string', description: 'Encoded Yjs state vector, base64url: what `?sv=` takes' },
      clocks: { type: 'object', additionalProperties: { type: 'integer' }, description: 'The same as client id → clock' },
    },
  },
  {
    $id: 'QuireVersion',
    type: 'object',
    required: ['id', 'label', 'createdAt', 'bytes'],
    properties: {
      id: { type: 'integer', description: '1, 2, 3… per document' },
      label: { type: 'string' },
      createdAt: { type: 'string', format: 'date-time' },
      bytes: { type: 'integer', description: 'Size of the stored state' },
    },
  },
] as const

const ref = (id: (typeof sharedSchemas)[number]['$id']) => ({ $ref: `${id}#` })

/**
 * Error responses of a route, each with the shared error body. 401, 403 (authentication) and 429
 * (REST rate limit) can answer any route, so every route lists them.
 */
export function errors(...codes: Array<400 | 404 | 409 | 413 | 415 | 503>): Record<number, object> {
  const descriptions: Record<number, string> = {
    400: 'Invalid input: document name, query parameter, base64url, state vector or update bytes',
    401: 'Authentication is on and the bearer token is missing, invalid or expired',
    403: 'The token does not grant this permission on this document (or is not an admin token), or the request comes from a browser origin --allowed-origins does not admit',
    404: 'Unknown document (or version)',
    409: 'The document was deleted while this edit was being applied; nothing was changed',
    413: 'Body larger than the configured limit, or the document would exceed its size quota',
    415: 'Body is not of the expected media type; a POST without Content-Type or with text/plain, form or multipart is always refused',
    429: 'REST rate limit exceeded; see Retry-After',
    503: 'Server shutting down, or the key server (JWKS) is unreachable',
  }
  const all = [...codes, 401, 403, 429].sort()
  return Object.fromEntries(all.map((code) => [code, { description: descriptions[code], ...ref('QuireError') }]))
}

export const binary = (description: string) => ({
  description,
  content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
})

export const plainText = (description: string) => ({
  description,
  content: { 'text/plain': { schema: { type: 'string' } } },
})

export const anyJson = (description: string) => ({
  description,
  content: { 'application/json': { schema: {} } },
})

export const documentResponse = { description: 'Document metadata', ...ref('QuireDocument') }
export const stateVectorResponse = { description: 'The document state vector', ...ref('QuireStateVector') }
export const versionResponse = { description: 'A version', ...ref('QuireVersion') }

export const restoreSummary = {
  description: 'Every document of the backup was handled; conflicts were left as they are',
  type: 'object',
  required: ['documents', 'restored', 'completed', 'skipped', 'conflicts', 'versions', 'bytes', 'conflicted'],
  properties: {
    documents: { type: 'integer', description: 'Documents in the backup' },
    restored: { type: 'integer', description: 'Created, with all their versions' },
    completed: { type: 'integer', description: 'Present with the same content and their first versions (an interrupted restore): the rest added' },
    skipped: { type: 'integer', description: 'Present with the same content and versions' },
    conflicts: { type: 'integer', description: 'Present with other content or versions: left as they are' },
    versions: { type: 'integer', description: 'Versions added' },
    bytes: { type: 'integer', description: 'Content and version bytes written' },
    conflicted: {
      type: 'array',
      items: { type: 'object', required: ['name', 'reason'], properties: { name: { type: 'string' }, reason: { type: 'string' } } },
    },
  },
}

const storedSize = {
  type: 'object',
  required: ['bytes', 'logUpdates'],
  properties: { bytes: { type: 'integer' }, logUpdates: { type: 'integer' } },
}

export const compaction = {
  description: 'Compacted: stored bytes and log length before and after',
  type: 'object',
  required: ['name', 'before', 'after'],
  properties: { name: { type: 'string' }, before: storedSize, after: storedSize },
}

export const accessResponse = {
  description: "The caller's access to the document",
  type: 'object',
  required: ['name', 'access'],
  properties: {
    name: { type: 'string' },
    access: { type: 'string', enum: ['read', 'write'], description: '`read`: the server drops this token\'s edits (and 403s its writes); `write` with authentication off' },
    subject: { type: 'string', description: "The token's `sub`, if any" },
    expiresAt: { type: 'string', format: 'date-time', description: 'When the token expires (connections are closed with 4401 then)' },
  },
}

export const documentList = {
  description: 'One page of documents, in name order',
  type: 'object',
  required: ['docs'],
  properties: {
    docs: { type: 'array', items: ref('QuireDocument') },
    nextCursor: { type: 'string', description: 'Pass as `cursor` for the next page; absent on the last page' },
  },
}

export const versionList = {
  description: 'Versions, oldest first',
  type: 'object',
  required: ['versions'],
  properties: { versions: { type: 'array', items: ref('QuireVersion') } },
}

const name = {
  type: 'string',
  description: `Document name (the WebSocket room name), URL-encoded as one path segment: \`team-a%2Fspec\`. At most ${MAX_DOCUMENT_NAME_BYTES} UTF-8 bytes, no control characters.`,
}

export const nameParams = { type: 'object', required: ['name'], properties: { name } }
export const versionParams = {
  type: 'object',
  required: ['name', 'id'],
  properties: { name, id: { type: 'integer', minimum: 1, maximum: 2 ** 52, description: 'Version id' } },
}

const encoding = {
  type: 'string',
  enum: ['v1', 'v2'],
  default: 'v1',
  description: 'Yjs update format',
}

export const listQuery = {
  type: 'object',
  properties: {
    prefix: { type: 'string', maxLength: 4 * MAX_DOCUMENT_NAME_BYTES, description: 'Only names starting with this' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    cursor: { type: 'string', description: '`nextCursor` of the previous page' },
  },
}

export const exportQuery = {
  type: 'object',
  properties: {
    encoding,
    sv: { type: 'string', description: 'State vector, base64url: export only what its holder lacks' },
  },
}

export const encodingQuery = { type: 'object', properties: { encoding } }

export const jsonQuery = {
  type: 'object',
  properties: { key: { type: 'string', description: 'Only this top-level shared type' } },
}

export const textQuery = {
  type: 'object',
  required: ['key'],
  properties: { key: { type: 'string', description: 'Top-level Y.Text or Y.XmlFragment' } },
}

/**
 * The restore body: `{}`. It carries nothing yet; requiring it (as application/json) is what keeps
 * a restore from being a request any web page can send cross-site without a preflight. Members
 * are reserved for later options: Fastify's Ajv removes unknown ones rather than refusing them.
 */
export const restoreBody = {
  type: 'object',
  description: 'The empty object `{}`, as `application/json`',
  additionalProperties: false,
  properties: {},
}

export const versionBody = {
  type: 'object',
  required: ['label'],
  properties: { label: { type: 'string', maxLength: 200 } },
}

export interface NameParams {
  name: string
}
export interface VersionParams extends NameParams {
  id: number
}
export interface ListQuery {
  prefix?: string
  limit: number
  cursor?: string
}
export interface ExportQuery {
  encoding: 'v1' | 'v2'
  sv?: string
}
export interface KeyQuery {
  key?: string
}
