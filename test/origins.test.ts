/**
 * The Origin allow-list (auth/origins.ts) and the preflight rule for writes (http/cross-site.ts):
 * the check itself, the setting, and what the REST API and the admin pages answer. The WebSocket
 * side is tested with the transport.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { cleanup, startServer, type TestServer } from './helpers.js'
import { SECRET, sign } from './auth-helpers.js'
import { docUrl, expectError, getJson, httpUrl, postJson } from './rest-helpers.js'
import { OriginSettingError, allowedOrigins, parseAllowedOrigins } from '../src/auth/origins.js'
import { ConfigError, parseServeConfig } from '../src/config.js'
import { createServer } from '../src/index.js'
import { tempDir } from './helpers.js'

afterEach(cleanup)

const EVIL = 'https://evil.example'

function textUpdate(text: string): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

/** A POST of an update, as a page on `origin` (or curl, without one) would send it. */
const postUpdateFrom = (server: TestServer, name: string, origin: string | undefined, text = 'x') =>
  fetch(docUrl(server, name, '/update'), {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', ...(origin && { origin }) },
    body: textUpdate(text),
  })

const self = (server: TestServer) => `http://127.0.0.1:${server.port}`

describe('the check', () => {
  const HOST = 'quire.example:1234'
  const auto = allowedOrigins('auto', { authEnabled: false })

  it('auto, auth off: no Origin, same origin and loopback pass; other sites, opaque and malformed origins do not', () => {
    expect(auto(undefined, HOST)).toBe(true)
    expect(auto(undefined, undefined)).toBe(true)
    expect(auto('http://quire.example:1234', HOST)).toBe(true)
    expect(auto('https://QUIRE.example:1234', HOST)).toBe(true) // the scheme is not compared: TLS may end at a proxy
    expect(auto('https://quire.example', 'quire.example')).toBe(true) // default port on both sides
    expect(auto('https://quire.example', 'quire.example:443')).toBe(true)
    expect(auto('http://[2001:db8::1]:8080', '[2001:db8::1]:8080')).toBe(true)
    for (const local of ['http://localhost:5173', 'http://127.0.0.1:3000', 'https://127.8.9.10', 'http://[::1]:5173', 'http://app.localhost:8080']) {
      expect(auto(local, HOST), local).toBe(true)
    }
    // Same host, other port: another origin.
    expect(auto('http://quire.example:5173', HOST)).toBe(false)
    expect(auto('https://quire.example', HOST)).toBe(false)
    for (const foreign of [EVIL, 'null', '', 'file://', 'chrome-extension://abc', 'not an origin', 'http://localhost.evil.example', 'http://127.0.0.1.evil.example']) {
      expect(auto(foreign, HOST), foreign).toBe(false)
    }
    // A Host that URL parsing would reinterpret never makes a foreign origin "same".
    expect(auto('http://localhost.evil.example', 'evil@localhost.evil.example')).toBe(false)
    expect(auto('http://evil.example', 'evil.example/x')).toBe(false)
    expect(auto(EVIL, undefined)).toBe(false)
  })

  it('auto, auth on: every origin passes (tokens are never ambient)', () => {
    const withAuth = allowedOrigins('auto', { authEnabled: true })
    for (const origin of [EVIL, 'null', 'http://localhost:5173', undefined]) expect(withAuth(origin, HOST)).toBe(true)
  })

  it('an explicit list admits exactly its origins, normalized, whatever the auth setting', () => {
    for (const authEnabled of [false, true]) {
      const listed = allowedOrigins('https://App.example:8443/, http://other.example:80', { authEnabled })
      expect(listed('https://app.example:8443', HOST)).toBe(true)
      expect(listed('http://other.example', HOST)).toBe(true)
      expect(listed(undefined, HOST)).toBe(true)
      expect(listed('https://app.example', HOST)).toBe(false)
      expect(listed('http://app.example:8443', HOST)).toBe(false)
      expect(listed('http://quire.example:1234', HOST)).toBe(false) // same-origin is not implied…
      expect(listed('http://localhost:5173', HOST)).toBe(false) // …nor loopback
    }
    const plusAuto = allowedOrigins(['auto', 'https://app.example'], { authEnabled: false })
    expect(plusAuto('https://app.example', HOST)).toBe(true)
    expect(plusAuto('http://localhost:5173', HOST)).toBe(true)
    expect(plusAuto(EVIL, HOST)).toBe(false)
  })

  it('* admits every origin; none admits only requests without one', () => {
    expect(allowedOrigins('*', { authEnabled: false })(EVIL, HOST)).toBe(true)
    const none = allowedOrigins('none', { authEnabled: true })
    expect(none(undefined, HOST)).toBe(true)
    expect(none('http://quire.example:1234', HOST)).toBe(false)
  })

  it('parses the setting, refusing entries that are not origins', () => {
    expect(parseAllowedOrigins('')).toMatchObject({ auto: true, any: false })
    expect([...parseAllowedOrigins(' https://a.example , *').exact]).toEqual(['https://a.example'])
    for (const bad of ['app.example', 'https://a.example/path', 'ftp://a.example', 'https://user@a.example', 'https://a.example?x', 'none,auto', 'https://*.example']) {
      expect(() => parseAllowedOrigins(bad), bad).toThrow(OriginSettingError)
    }
  })
})

describe('REST and admin pages, default (auto) with authentication off', () => {
  it('refuses a cross-site page: 403 JSON on writes, reads, DELETE and the dashboard; nothing is created', async () => {
    const server = await startServer()
    await expectError(await postUpdateFrom(server, 'target', EVIL), 403, /origin "https:\/\/evil.example" is not allowed/)
    await getJson(docUrl(server, 'target'), 404) // the refused write created nothing
    expect((await postUpdateFrom(server, 'target', undefined, 'seed')).status).toBe(200)
    await expectError(await fetch(docUrl(server, 'target', '/json'), { headers: { origin: EVIL } }), 403)
    await expectError(await fetch(docUrl(server, 'target'), { method: 'DELETE', headers: { origin: EVIL } }), 403)
    await expectError(await fetch(httpUrl(server, '/admin'), { headers: { origin: EVIL } }), 403)
    await expectError(await fetch(httpUrl(server, '/admin/events'), { headers: { origin: EVIL } }), 403)
    expect(await getJson(docUrl(server, 'target', '/json'))).toEqual({ t: 'seed' }) // still there, unchanged
  })

  it('admits curl-style requests without Origin, the same origin and loopback dev servers', async () => {
    const server = await startServer()
    expect((await postUpdateFrom(server, 'a', undefined)).status).toBe(200)
    expect((await postUpdateFrom(server, 'b', self(server))).status).toBe(200)
    expect((await postUpdateFrom(server, 'c', 'http://localhost:5173')).status).toBe(200)
    const page = await fetch(httpUrl(server, '/admin'), { headers: { origin: self(server) } })
    expect([200, 503]).toContain(page.status) // 503 only when the web pages are not built
    await page.arrayBuffer()
  })

  it('refuses a POST a browser could send cross-site without a preflight, even without an Origin header', async () => {
    const server = await startServer()
    expect((await postUpdateFrom(server, 'doc', undefined, 'version one')).status).toBe(200)
    expect((await postJson(docUrl(server, 'doc', '/versions'), { label: 'v1' })).status).toBe(201)
    expect((await postUpdateFrom(server, 'doc', undefined, ' and more')).status).toBe(200)
    const current = await getJson(docUrl(server, 'doc', '/json'))

    const restore = docUrl(server, 'doc', '/versions/1/restore')
    // What a <form method=post>, navigator.sendBeacon or fetch(…, {mode: 'no-cors'}) can send.
    await expectError(await fetch(restore, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }), 415, /Content-Type: application\/json/)
    await expectError(await fetch(restore, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' }), 415)
    await expectError(await fetch(restore, { method: 'POST' }), 415, /got none/)
    await expectError(await fetch(docUrl(server, 'doc', '/update'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }), 415, /application\/octet-stream/)
    expect(await getJson(docUrl(server, 'doc', '/json'))).toEqual(current) // nothing was restored

    // The documented form: `{}` as JSON, which a browser sends cross-site only after a preflight.
    expect((await postJson(restore, {})).status).toBe(200)
    expect(await getJson(docUrl(server, 'doc', '/json'))).not.toEqual(current)
  })
})

describe('REST with an explicit list or authentication', () => {
  it('an explicit --allowed-origins list admits exactly its entries and sends them CORS headers', async () => {
    const app = 'https://app.example:8443'
    const server = await startServer({ allowedOrigins: [app] })
    const listed = await postUpdateFrom(server, 'doc', app)
    expect(listed.status).toBe(200)
    expect(listed.headers.get('access-control-allow-origin')).toBe(app)
    expect((await postUpdateFrom(server, 'doc', undefined)).status).toBe(200)
    for (const other of ['https://app.example', self(server), 'http://localhost:5173', EVIL]) {
      await expectError(await postUpdateFrom(server, 'doc', other), 403)
    }
  })

  it('with authentication on, the default admits any origin and the token decides', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const writer = await sign({ claims: { docs: { '*': 'write' } } })
    const response = await fetch(docUrl(server, 'doc', '/update'), {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', origin: EVIL, authorization: `Bearer ${writer}` },
      body: textUpdate('from an app on another origin'),
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('access-control-allow-origin')).toBeNull() // admitted is not CORS: list it for that
    // Without a token the page gets 401 from authentication, not 403 from the origin check.
    await expectError(await postUpdateFrom(server, 'doc', EVIL), 401)
  })

  it('--cors-origin (the older setting) adds its origins to the default instead of replacing it', async () => {
    const server = await startServer({ corsOrigins: ['https://app.example'] })
    expect((await postUpdateFrom(server, 'doc', 'https://app.example')).status).toBe(200)
    expect((await postUpdateFrom(server, 'doc', self(server))).status).toBe(200)
    await expectError(await postUpdateFrom(server, 'doc', EVIL), 403)
  })

  it('a malformed origin stops the server from starting', async () => {
    const app = createServer({ dataDir: await tempDir(), allowedOrigins: ['app.example'] })
    await expect(app.ready()).rejects.toThrow(OriginSettingError)
    await app.close().catch(() => {})
  })
})

describe('settings', () => {
  it('--allowed-origins over ALLOWED_ORIGINS over auto; bad entries fail with a one-line reason', () => {
    expect(parseServeConfig([], {}).allowedOrigins).toEqual(['auto'])
    expect(parseServeConfig([], { ALLOWED_ORIGINS: '' }).allowedOrigins).toEqual(['auto'])
    expect(parseServeConfig([], { ALLOWED_ORIGINS: 'https://a.example, auto' }).allowedOrigins).toEqual(['https://a.example', 'auto'])
    expect(parseServeConfig(['--allowed-origins', '*'], { ALLOWED_ORIGINS: 'none' }).allowedOrigins).toEqual(['*'])
    expect(() => parseServeConfig(['--allowed-origins', 'https://a.example/app'], {})).toThrow(ConfigError)
    expect(() => parseServeConfig([], { ALLOWED_ORIGINS: 'a.example' })).toThrow(/^ALLOWED_ORIGINS: "a.example" is not an origin/)
    // The older setting joins the list, so it is checked the same way.
    expect(parseServeConfig(['--cors-origin', 'https://a.example'], {}).corsOrigins).toEqual(['https://a.example'])
    expect(() => parseServeConfig([], { CORS_ORIGIN: 'https://*.a.example' })).toThrow(/^CORS_ORIGIN: "https:\/\/\*.a.example": wildcards are not supported/)
  })
})
