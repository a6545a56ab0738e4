/**
 * REST and page authentication: Bearer tokens, 401/403 in the REST error shape, the list filtered
 * to readable documents, DELETE for admins only, /admin with an admin `?token=`, ops endpoints open.
 * Also the other key sources: an ES256 public key PEM, and a JWKS served by the test itself.
 */
import { createServer as createHttpServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { exportJWK, exportSPKI, generateKeyPair } from 'jose'
import { cleanup, startServer, synced, type TestServer } from './helpers.js'
import { SECRET, closeClients, framesOf, providerWith, sign } from './auth-helpers.js'
import { expectError } from './rest-helpers.js'

const servers: Server[] = []
afterEach(async () => {
  closeClients()
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve))
  await cleanup()
})

const url = (server: TestServer, path: string) => `http://127.0.0.1:${server.port}${path}`
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const update = (text: string) => {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}
const post = (server: TestServer, name: string, token: string | undefined, text = 'x') =>
  fetch(url(server, `/api/docs/${encodeURIComponent(name)}/update`), {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', ...(token && bearer(token)) },
    body: update(text),
  })

async function seeded() {
  const server = await startServer({ auth: { secret: SECRET } })
  const admin = await sign({ claims: { role: 'admin' } })
  for (const name of ['team-a/one', 'team-a/two', 'team-b/one', 'zeta']) expect((await post(server, name, admin, name)).status).toBe(200)
  return { server, admin }
}

describe('REST with tokens', () => {
  it('401 without a token or with a bad or expired one, in the REST error shape', async () => {
    const { server } = await seeded()
    await expectError(await fetch(url(server, '/api/docs')), 401, /missing token/)
    await expectError(await fetch(url(server, '/api/docs/zeta'), { headers: bearer('nope') }), 401, /invalid token/)
    await expectError(await fetch(url(server, '/api/docs/zeta'), { headers: bearer(await sign({ expiresIn: -5 })) }), 401, /token expired/)
    const response = await post(server, 'zeta', undefined)
    expect(response.headers.get('www-authenticate')).toBe('Bearer')
    await expectError(response, 401)
  })

  it('reads need read, writes need write, restore needs write, DELETE needs admin', async () => {
    const { server, admin } = await seeded()
    const reader = await sign({ claims: { docs: { 'team-a/*': 'read' } } })
    const writer = await sign({ claims: { docs: { 'team-a/*': 'write' } } })
    expect(await (await fetch(url(server, '/api/docs/team-a%2Fone/text?key=t'), { headers: bearer(reader) })).text()).toBe('team-a/one')
    await expectError(await fetch(url(server, '/api/docs/team-b%2Fone/text?key=t'), { headers: bearer(reader) }), 403, /no read access/)
    await expectError(await post(server, 'team-a/one', reader), 403, /no write access/)
    expect((await post(server, 'team-a/one', writer, 'more')).status).toBe(200)
    const version = await fetch(url(server, '/api/docs/team-a%2Fone/versions'), {
      method: 'POST', headers: { 'content-type': 'application/json', ...bearer(writer) }, body: JSON.stringify({ label: 'v' }),
    })
    expect(version.status).toBe(201)
    const { id } = (await version.json()) as { id: number }
    const restore = (token: string) =>
      fetch(url(server, `/api/docs/team-a%2Fone/versions/${id}/restore`), { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(token) }, body: '{}' })
    await expectError(await restore(reader), 403)
    expect((await restore(writer)).status).toBe(200)
    await expectError(await fetch(url(server, '/api/docs/team-a%2Fone'), { method: 'DELETE', headers: bearer(writer) }), 403, /admin/)
    expect((await fetch(url(server, '/api/docs/team-a%2Fone'), { method: 'DELETE', headers: bearer(admin) })).status).toBe(204)
  })

  it('the list shows only readable documents, across pages; an admin sees all', async () => {
    const { server, admin } = await seeded()
    const reader = await sign({ claims: { docs: { 'team-a/*': 'read', zeta: 'write' } } })
    const list = async (token: string, query = '') => {
      const response = await fetch(url(server, `/api/docs${query}`), { headers: bearer(token) })
      expect(response.status).toBe(200)
      return (await response.json()) as { docs: Array<{ name: string }>; nextCursor?: string }
    }
    expect((await list(reader)).docs.map((d) => d.name)).toEqual(['team-a/one', 'team-a/two', 'zeta'])
    const first = await list(reader, '?limit=2')
    expect(first.docs.map((d) => d.name)).toEqual(['team-a/one', 'team-a/two'])
    const second = await list(reader, `?limit=2&cursor=${first.nextCursor}`)
    expect(second.docs.map((d) => d.name)).toEqual(['zeta'])
    expect((await list(admin)).docs.map((d) => d.name)).toEqual(['team-a/one', 'team-a/two', 'team-b/one', 'zeta'])
  })

  it('/admin and its stream need an admin token (?token= accepted); /metrics, /healthz, /readyz stay open', async () => {
    const { server, admin } = await seeded()
    const user = await sign({ claims: { docs: { '*': 'write' } } })
    expect((await fetch(url(server, '/admin'))).status).toBe(401)
    expect((await fetch(url(server, `/admin?token=${user}`))).status).toBe(403)
    expect((await fetch(url(server, '/admin/events'))).status).toBe(401)
    const page = await fetch(url(server, `/admin?token=${admin}`))
    expect([200, 503]).toContain(page.status) // 503 only when the web pages are not built
    const controller = new AbortController()
    const events = await fetch(url(server, `/admin/events?token=${admin}`), { signal: controller.signal })
    expect(events.status).toBe(200)
    controller.abort()
    for (const path of ['/metrics', '/healthz', '/readyz']) expect((await fetch(url(server, path))).status).toBe(200)
  })
})

describe('logs', () => {
  it('redact ?token= from request log lines', async () => {
    const lines: string[] = []
    const stream = { write: (line: string) => void lines.push(line) }
    const server = await startServer({ auth: { secret: SECRET }, logger: { level: 'info', stream } })
    const admin = await sign({ claims: { role: 'admin' } })
    await fetch(url(server, `/admin?token=${admin}&x=1`))
    expect(lines.some((l) => l.includes('/admin?token=[redacted]&x=1'))).toBe(true)
    expect(lines.join('')).not.toContain(admin)
  })
})

describe('key sources', () => {
  it('ES256 public key PEM: verifies its tokens, refuses HS256 ones', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    const server = await startServer({ auth: { publicKey: await exportSPKI(publicKey) } })
    const good = await sign({ key: privateKey, alg: 'ES256', claims: { docs: { '*': 'write' } } })
    const p = providerWith(server.url, 'es', good)
    await synced(p)
    const hs = framesOf(`${server.url}/es?token=${await sign({ claims: { docs: { '*': 'write' } } })}`)
    expect((await hs.closed).code).toBe(4401)
  })

  it('JWKS endpoint down or failing: WebSocket 1013 (retryable) and REST 503, not 4401/401', async () => {
    const { privateKey } = await generateKeyPair('RS256')
    const failing = createHttpServer((_req, res) => res.writeHead(500).end('down'))
    servers.push(failing)
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve))
    const server = await startServer({ auth: { jwksUrl: `http://127.0.0.1:${(failing.address() as AddressInfo).port}/jwks` } })
    const token = await sign({ key: privateKey, alg: 'RS256', kid: 'k1', claims: { docs: { '*': 'write' } } })
    const client = framesOf(`${server.url}/jw?token=${token}`)
    expect(await client.closed).toMatchObject({ code: 1013, reason: 'signing keys unavailable, try again later' })
    await expectError(await fetch(url(server, '/api/docs/jw'), { headers: bearer(token) }), 503, /signing keys unavailable/)
  })

  it('JWKS URL served by the test: RS256 tokens by kid, unknown kid refused, REST too', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256')
    const other = await generateKeyPair('RS256')
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
    let fetches = 0
    const jwks = createHttpServer((_req, res) => {
      fetches++
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }))
    })
    servers.push(jwks)
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`
    const server = await startServer({ auth: { jwksUrl, issuer: 'https://issuer.test' } })
    const token = await sign({ key: privateKey, alg: 'RS256', kid: 'k1', claims: { iss: 'https://issuer.test', docs: { '*': 'write' } } })
    const p = providerWith(server.url, 'jw', token)
    await synced(p)
    expect(fetches).toBeGreaterThanOrEqual(1)
    const wrongKey = await sign({ key: other.privateKey, alg: 'RS256', kid: 'k1', claims: { iss: 'https://issuer.test' } })
    expect((await framesOf(`${server.url}/jw?token=${wrongKey}`).closed).code).toBe(4401)
    const wrongIssuer = await sign({ key: privateKey, alg: 'RS256', kid: 'k1', claims: { iss: 'https://evil.test', docs: { '*': 'write' } } })
    expect((await framesOf(`${server.url}/jw?token=${wrongIssuer}`).closed).reason).toMatch(/iss/)
    expect((await fetch(url(server, '/api/docs/jw'), { headers: bearer(token) })).status).not.toBe(401)
    expect((await fetch(url(server, '/api/docs/jw'), { headers: bearer(wrongKey) })).status).toBe(401)
  })
})
