/**
 * Tokens kept out of reach: request logs redact every query parameter the parser reads as
 * `token`, however it is spelled in the URL; a JWKS URL over plain http (whose keys anyone on the
 * path could replace) is refused unless its host is loopback.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, startServer } from '../helpers.js'
import { SECRET, sign } from '../auth-helpers.js'
import { httpUrl } from '../rest-helpers.js'
import { redactToken } from '../../src/auth/redact.js'
import { Authenticator, jwksUrlProblem } from '../../src/auth/authenticator.js'
import { ConfigError, parseServeConfig } from '../../src/config.js'

afterEach(cleanup)

describe('token redaction', () => {
  it('redacts every parameter that decodes to token, and nothing else', () => {
    const cases: Array<[string, string]> = [
      ['/admin?token=abc', '/admin?token=[redacted]'],
      ['/admin?%74oken=abc', '/admin?%74oken=[redacted]'],
      ['/admin?%74%6F%6B%65%6E=abc&x=1', '/admin?%74%6F%6B%65%6E=[redacted]&x=1'],
      ['/admin?x=1&TOKEN=abc', '/admin?x=1&TOKEN=[redacted]'],
      ['/admin?+token+=abc', '/admin?+token+=[redacted]'],
      ['/admin?token=a&token=b', '/admin?token=[redacted]&token=[redacted]'],
      ['/admin?tok%en=abc&token', '/admin?tok%en=abc&token=[redacted]'],
      ['/admin?tokens=abc&mytoken=x', '/admin?tokens=abc&mytoken=x'],
      ['/d/token=abc', '/d/token=abc'], // a path, not a query
      ['/admin?a=token%3Dabc', '/admin?a=token%3Dabc'], // a value, not a name
    ]
    for (const [url, redacted] of cases) expect(redactToken(url), url).toBe(redacted)
    expect(redactToken(undefined)).toBeUndefined()
  })

  it('keeps a percent-encoded ?%74oken= out of the request log lines', async () => {
    const lines: string[] = []
    const stream = { write: (line: string) => void lines.push(line) }
    const server = await startServer({ auth: { secret: SECRET }, logger: { level: 'info', stream } })
    const admin = await sign({ claims: { role: 'admin' } })
    // The route reads this as `token` and admits it: the redaction must see it the same way.
    const page = await fetch(httpUrl(server, `/admin?%74oken=${admin}`))
    expect([200, 503]).toContain(page.status) // 503 only when the web pages are not built
    await fetch(httpUrl(server, `/admin?TO%4BEN=${admin}&x=1`))
    expect(lines.some((l) => l.includes('/admin?%74oken=[redacted]'))).toBe(true)
    expect(lines.join('')).not.toContain(admin)
  })
})

describe('JWKS URL', () => {
  it('refuses plain http to a remote host in the settings, with a one-line reason', () => {
    for (const url of ['http://id.example.com/.well-known/jwks.json', 'http://10.0.0.5/jwks', 'http://localhost.evil.example/jwks']) {
      expect(() => parseServeConfig(['--auth-jwks-url', url], {}), url).toThrow(ConfigError)
    }
    expect(() => parseServeConfig([], { AUTH_JWKS_URL: 'http://id.example.com/jwks' })).toThrow(/^AUTH_JWKS_URL: must use https: [^\n]+$/)
    expect(() => parseServeConfig(['--auth-jwks-url', 'ftp://id.example.com/jwks'], {})).toThrow(/--auth-jwks-url: must be an https URL/)
  })

  it('accepts https anywhere and http on a loopback host (a sidecar, a test key server)', () => {
    for (const url of ['https://id.example.com/jwks', 'http://127.0.0.1:8080/jwks', 'http://localhost:9000/jwks', 'http://[::1]:9000/jwks']) {
      expect(jwksUrlProblem(url), url).toBeUndefined()
      expect(parseServeConfig(['--auth-jwks-url', url], {}).security.auth.jwksUrl).toBe(url)
    }
  })

  it('is refused by the library option too, so createServer cannot start with it', () => {
    expect(() => new Authenticator({ jwksUrl: 'http://id.example.com/jwks' })).toThrow(/auth JWKS URL must use https/)
    expect(new Authenticator({ jwksUrl: 'http://127.0.0.1:1/jwks' }).enabled).toBe(true)
  })
})
