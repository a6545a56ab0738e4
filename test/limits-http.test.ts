/** HTTP limits: the REST rate limit (429 in the usual JSON shape) and CORS (http/rate-limit.ts); limit settings. */
import { readdirSync, readFileSync } from 'node:fs'
import { join, normalize } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, startServer } from './helpers.js'
import { metric } from './metrics-helpers.js'
import { httpUrl } from './rest-helpers.js'
import { ConfigError, parseServeConfig } from '../src/config.js'

afterEach(cleanup)

describe('REST rate limit', () => {
  it('answers 429 JSON after the configured number of requests, and leaves other routes alone', async () => {
    const server = await startServer({ restRateLimit: { max: 3, windowMs: 60_000 } })
    for (let i = 0; i < 3; i++) expect((await fetch(httpUrl(server, '/api/docs'))).status).toBe(200)
    const refused = await fetch(httpUrl(server, '/api/docs'))
    expect(refused.status).toBe(429)
    expect(refused.headers.get('content-type')).toMatch(/^application\/json/)
    expect(refused.headers.get('retry-after')).toBe('60')
    const body = await refused.json()
    expect(body).toEqual({ statusCode: 429, error: 'Too Many Requests', message: expect.stringMatching(/^rate limit of 3 requests per/) })
    expect(await metric(server, 'quire_limit_rejections_total{limit="rest-rate"}')).toBe(1)
    // Health checks and metrics are not REST API calls.
    for (let i = 0; i < 5; i++) expect((await fetch(httpUrl(server, '/healthz'))).status).toBe(200)
  })

  it('is off with max 0', async () => {
    const server = await startServer({ restRateLimit: { max: 0 } })
    for (let i = 0; i < 5; i++) expect((await fetch(httpUrl(server, '/api/docs'))).status).toBe(200)
  })
})

describe('CORS', () => {
  const get = (url: string, origin: string) => fetch(url, { headers: { origin } })

  it('allows the configured origins only', async () => {
    const server = await startServer({ corsOrigins: ['https://app.example'] })
    const allowed = await get(httpUrl(server, '/api/docs'), 'https://app.example')
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example')
    const other = await get(httpUrl(server, '/api/docs'), 'https://evil.example')
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
    const preflight = await fetch(httpUrl(server, '/api/docs/x/update'), {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example')
  })

  it('is off by default: no CORS headers for any origin, admitted (loopback) or not', async () => {
    const server = await startServer()
    const local = await get(httpUrl(server, '/api/docs'), 'http://localhost:5173')
    expect(local.status).toBe(200)
    expect(local.headers.get('access-control-allow-origin')).toBeNull()
    // Another site is refused outright by the origin allow-list (test/origins.test.ts), CORS or not.
    const other = await get(httpUrl(server, '/api/docs'), 'https://app.example')
    expect(other.status).toBe(403)
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('lets a listed origin preflight DELETE, which @fastify/cors leaves out by default', async () => {
    const server = await startServer({ corsOrigins: ['https://app.example'] })
    const preflight = await fetch(httpUrl(server, '/api/docs/x'), {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/\bDELETE\b/)
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization')
  })
})

describe('limit settings', () => {
  it('reads flags over environment variables over defaults', () => {
    const config = parseServeConfig(
      ['--max-connections-per-ip', '5', '--messages-per-second', '50', '--cors-origin', 'https://a.example, http://localhost:5173'],
      { MAX_DOCUMENT_BYTES: '1048576', MAX_CONNECTIONS_PER_IP: '9', REST_RATE_LIMIT: '0' },
    )
    expect(config.limits).toMatchObject({ maxConnectionsPerIp: 5, messagesPerSecond: 50, maxDocumentBytes: 1048576, maxConnections: 20_000 })
    expect(config.restRateLimit).toEqual({ max: 0, windowMs: 60_000 })
    expect(config.corsOrigins).toEqual(['https://a.example', 'http://localhost:5173'])
    expect(parseServeConfig([], {}).corsOrigins).toEqual([])
  })

  it('refuses bad values with a one-line reason', () => {
    expect(() => parseServeConfig(['--max-rooms', '-1'], {})).toThrow(ConfigError)
    expect(() => parseServeConfig([], { MAX_BUFFERED_BYTES: 'lots' })).toThrow(/MAX_BUFFERED_BYTES: "lots" is not an integer/)
    expect(() => parseServeConfig(['--cors-origin', 'app.example'], {})).toThrow(/--cors-origin: "app.example" is not a comma-separated list of origins/)
  })
})

describe('layering', () => {
  it('src/auth and src/limits import nothing from src/http: the HTTP adapters live in src/http', () => {
    const offending: string[] = []
    for (const dir of ['src/auth', 'src/limits']) {
      for (const file of readdirSync(dir)) {
        const source = readFileSync(join(dir, file), 'utf8')
        for (const [, from, dynamic] of source.matchAll(/(?:import|export)[^;]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
          const target = normalize(join(dir, (from ?? dynamic)!))
          if (target.startsWith(normalize('src/http'))) offending.push(`${dir}/${file} → ${from ?? dynamic}`)
        }
      }
    }
    expect(offending).toEqual([])
  })
})
