/**
 * Every bad REST input gets its 4xx as JSON `{statusCode, error, message}` — never a 500 — and
 * changes nothing: not the stored document, not its versions, not what a live provider holds.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { parseServeConfig } from '../src/index.js'
import { cleanup, connect, startServer, synced, waitFor, type TestServer } from './helpers.js'
import { base64url, docUrl, expectError, getBytes, getJson, httpUrl, postJson, postUpdate } from './rest-helpers.js'

afterEach(cleanup)

const MAX_BODY = 4096

interface BadRequest {
  what: string
  status: number
  request: (server: TestServer) => Promise<Response>
}

const get = (path: string) => (server: TestServer) => fetch(httpUrl(server, path))
const post = (path: string, body: Uint8Array | string | undefined, contentType?: string) => (server: TestServer) =>
  fetch(httpUrl(server, path), { method: 'POST', body, headers: contentType ? { 'content-type': contentType } : {} })
const octets = 'application/octet-stream'

/** An update that a document without `base` content cannot apply: it depends on it. */
function dependentUpdate(): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('text').insert(0, 'base')
  const sv = Y.encodeStateVector(doc)
  doc.getText('text').insert(4, ' more')
  return Y.encodeStateAsUpdate(doc, sv)
}

function validUpdate(): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('text').insert(0, 'would be new')
  return Y.encodeStateAsUpdate(doc)
}

const update = validUpdate()
const cases: BadRequest[] = [
  // Document names
  { what: 'control character in name', status: 400, request: get('/api/docs/a%00b') },
  { what: 'empty name', status: 400, request: get('/api/docs/') },
  { what: 'name over 1024 bytes', status: 400, request: get('/api/docs/' + 'ü'.repeat(513)) },
  { what: 'malformed percent-encoding', status: 400, request: get('/api/docs/%E0%A4%A') },
  { what: 'bad name on POST', status: 400, request: post('/api/docs/a%01b/update', update, octets) },
  { what: 'bad name on DELETE', status: 400, request: (s) => fetch(httpUrl(s, '/api/docs/a%7Fb'), { method: 'DELETE' }) },
  // Query parameters
  { what: 'sv not base64url', status: 400, request: get('/api/docs/target/update?sv=a%2Bb%2F') },
  { what: 'sv of impossible length', status: 400, request: get('/api/docs/target/update?sv=A') },
  { what: 'empty sv', status: 400, request: get('/api/docs/target/update?sv=') },
  { what: 'truncated state vector', status: 400, request: get(`/api/docs/target/update?sv=${base64url(Uint8Array.from([5, 1]))}`) },
  { what: 'state vector with trailing bytes', status: 400, request: get(`/api/docs/target/update?sv=${base64url(Uint8Array.from([0, 7]))}`) },
  { what: 'unknown encoding', status: 400, request: get('/api/docs/target/update?encoding=v3') },
  { what: 'limit 0', status: 400, request: get('/api/docs?limit=0') },
  { what: 'limit not a number', status: 400, request: get('/api/docs?limit=ten') },
  { what: 'limit over 1000', status: 400, request: get('/api/docs?limit=1001') },
  { what: 'cursor not base64url', status: 400, request: get('/api/docs?cursor=%21%21') },
  { what: 'cursor of another prefix', status: 400, request: get(`/api/docs?prefix=b&cursor=${base64url(Buffer.from('target'))}`) },
  { what: 'text without key', status: 400, request: get('/api/docs/target/text') },
  { what: 'text of a Y.Map', status: 400, request: get('/api/docs/target/text?key=map') },
  { what: 'version id not a number', status: 400, request: get('/api/docs/target/versions/first') },
  { what: 'version id 0', status: 400, request: get('/api/docs/target/versions/0/json') },
  // Update bodies
  { what: 'garbage update', status: 400, request: post('/api/docs/target/update', Uint8Array.from([1, 2, 3, 250, 7]), octets) },
  { what: 'truncated update', status: 400, request: post('/api/docs/target/update', update.subarray(0, update.length - 2), octets) },
  { what: 'empty update', status: 400, request: post('/api/docs/target/update', new Uint8Array(), octets) },
  { what: 'update depending on missing changes', status: 400, request: post('/api/docs/target/update', dependentUpdate(), octets) },
  { what: 'v1 update declared v2', status: 400, request: post('/api/docs/target/update?encoding=v2', update, octets) },
  { what: 'garbage update on an unknown document', status: 400, request: post('/api/docs/newcomer/update', Uint8Array.from([9, 9, 9]), octets) },
  { what: 'update as text/plain', status: 415, request: post('/api/docs/target/update', 'hello', 'text/plain') },
  { what: 'update as JSON', status: 415, request: post('/api/docs/target/update', '{"update":1}', 'application/json') },
  { what: 'update without a body', status: 415, request: post('/api/docs/target/update', undefined) },
  { what: 'body over the limit', status: 413, request: post('/api/docs/target/update', new Uint8Array(MAX_BODY + 1), octets) },
  // Version bodies
  { what: 'version without label', status: 400, request: (s) => postJson(docUrl(s, 'target', '/versions'), {}) },
  { what: 'version label too long', status: 400, request: (s) => postJson(docUrl(s, 'target', '/versions'), { label: 'x'.repeat(201) }) },
  { what: 'version body not JSON', status: 400, request: post('/api/docs/target/versions', '{"label":', 'application/json') },
  { what: 'version without body', status: 415, request: post('/api/docs/target/versions', undefined) },
  { what: 'version as text/plain', status: 415, request: post('/api/docs/target/versions', '{"label":"x"}', 'text/plain') },
  { what: 'version as a form', status: 415, request: post('/api/docs/target/versions', 'label=x', 'application/x-www-form-urlencoded') },
  // Restore bodies: `{}` as JSON; anything a page could send cross-site without a preflight is refused.
  { what: 'restore without body', status: 415, request: post('/api/docs/target/versions/1/restore', undefined) },
  { what: 'restore as text/plain', status: 415, request: post('/api/docs/target/versions/1/restore', '{}', 'text/plain;charset=UTF-8') },
  { what: 'restore as multipart', status: 415, request: post('/api/docs/target/versions/1/restore', '--b--', 'multipart/form-data; boundary=b') },
  { what: 'restore with an empty JSON body', status: 400, request: post('/api/docs/target/versions/1/restore', '', 'application/json') },
  { what: 'restore with a JSON array', status: 400, request: post('/api/docs/target/versions/1/restore', '[]', 'application/json') },
  // Unknown documents and versions
  ...['', '/update', '/state-vector', '/json', '/text?key=text', '/versions'].map((path): BadRequest => ({
    what: `unknown document ${path || 'metadata'}`, status: 404, request: get(`/api/docs/unknown${path}`),
  })),
  { what: 'unknown key', status: 404, request: get('/api/docs/target/json?key=nothing') },
  { what: 'delete unknown document', status: 404, request: (s) => fetch(httpUrl(s, '/api/docs/unknown'), { method: 'DELETE' }) },
  ...['', '/update', '/json', '/text?key=text'].map((path): BadRequest => ({
    what: `unknown version ${path || 'metadata'}`, status: 404, request: get(`/api/docs/target/versions/99${path}`),
  })),
  { what: 'restore unknown version', status: 404, request: (s) => postJson(docUrl(s, 'target', '/versions/99/restore'), {}) },
  { what: 'version of unknown document', status: 404, request: (s) => postJson(docUrl(s, 'unknown', '/versions'), { label: 'x' }) },
]

describe('bad REST input', () => {
  it.each(cases.map((c) => [c.what, c] as const))('%s → 4xx JSON, nothing changed', async (_what, { status, request }) => {
    const server = await startServer({ maxBodyBytes: MAX_BODY })
    const provider = connect(server.url, 'target')
    await synced(provider)
    provider.doc.getText('text').insert(0, 'stored content')
    provider.doc.getMap('map').set('k', 'v')
    const sv = base64url(Y.encodeStateVector(provider.doc))
    await waitFor(async () => (await getJson<{ stateVector: string }>(docUrl(server, 'target', '/state-vector'))).stateVector === sv, 'the edit to be stored')
    expect((await postJson(docUrl(server, 'target', '/versions'), { label: 'v1' })).status).toBe(201)
    const before = await fingerprint(server)

    await expectError(await request(server), status)

    expect(await fingerprint(server)).toEqual(before)
    expect(provider.doc.getText('text').toString()).toBe('stored content')
    await getJson(docUrl(server, 'newcomer'), 404) // a refused edit creates nothing
    await waitFor(() => server.app.quire.registry.size === 1, 'only the provider’s room to stay loaded')
  })
})

/** Everything a bad request must not change: the document's bytes and history, its versions, the document list. */
async function fingerprint(server: TestServer) {
  return {
    state: base64url(await getBytes(docUrl(server, 'target', '/update'))),
    meta: await getJson(docUrl(server, 'target')),
    versions: await getJson(docUrl(server, 'target', '/versions')),
    list: await getJson(httpUrl(server, '/api/docs')),
  }
}

describe('body limit configuration', () => {
  it('reads --max-body-bytes and MAX_BODY_BYTES, and refuses nonsense', () => {
    expect(parseServeConfig([]).maxBodyBytes).toBe(16 * 1024 * 1024)
    expect(parseServeConfig(['--max-body-bytes', '65536'], {}).maxBodyBytes).toBe(65536)
    expect(parseServeConfig([], { MAX_BODY_BYTES: '2048' }).maxBodyBytes).toBe(2048)
    expect(() => parseServeConfig(['--max-body-bytes', '1mb'], {})).toThrow(/--max-body-bytes/)
  })

  it('accepts a body of exactly the limit and refuses one byte more', async () => {
    const server = await startServer({ maxBodyBytes: MAX_BODY })
    const updateOf = (length: number) => {
      const doc = new Y.Doc()
      doc.clientID = 1 // a fixed id: its varint width would otherwise vary the size
      doc.getText('text').insert(0, 'x'.repeat(length))
      return Y.encodeStateAsUpdate(doc)
    }
    const overhead = updateOf(1000).length - 1000 // same varint widths as near the limit
    const exact = updateOf(MAX_BODY - overhead)
    expect(exact.length).toBe(MAX_BODY)
    await expectError(await postUpdate(docUrl(server, 'big', '/update'), updateOf(MAX_BODY - overhead + 1)), 413)
    await getJson(docUrl(server, 'big'), 404)
    expect((await postUpdate(docUrl(server, 'big', '/update'), exact)).status).toBe(200)
  })
})
