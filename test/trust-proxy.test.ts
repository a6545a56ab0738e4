/**
 * Behind a load balancer every client arrives from the proxy's address. With --trust-proxy the
 * per-IP limits (REST rate limit, WebSocket connections per IP) count the forwarded client
 * address instead, and only from trusted proxies; without it X-Forwarded-For is ignored, so a
 * client cannot escape a limit by sending the header itself.
 */
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { cleanup, startServer, type TestServer } from './helpers.js'
import { parseServeConfig, ConfigError } from '../src/config.js'

afterEach(cleanup)

const get = (server: TestServer, forwardedFor: string) =>
  fetch(`http://127.0.0.1:${server.port}/api/docs/x`, { headers: { 'x-forwarded-for': forwardedFor } }).then((r) => r.status)

/** Opens a socket claiming `forwardedFor`; resolves with the close code, or 'open'. */
function open(server: TestServer, forwardedFor: string): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${server.url}/doc`, { headers: { 'x-forwarded-for': forwardedFor } })
    ws.on('error', () => {})
    const timer = setTimeout(() => resolve('open'), 300)
    ws.on('close', (code) => {
      clearTimeout(timer)
      resolve(code)
    })
  })
}

describe('--trust-proxy', () => {
  it('counts the REST rate limit per forwarded client behind a trusted proxy', async () => {
    const server = await startServer({ trustProxy: ['127.0.0.1'], restRateLimit: { max: 2, windowMs: 60_000 } })
    expect([await get(server, '10.0.0.1'), await get(server, '10.0.0.1')]).toEqual([404, 404])
    expect(await get(server, '10.0.0.2')).toBe(404) // another client behind the same proxy
    expect(await get(server, '10.0.0.1')).toBe(429)
  })

  it('ignores X-Forwarded-For when off, so a client cannot spoof its way past a limit', async () => {
    const server = await startServer({ restRateLimit: { max: 2, windowMs: 60_000 } })
    expect([await get(server, '10.0.0.1'), await get(server, '10.0.0.2'), await get(server, '10.0.0.3')]).toEqual([404, 404, 429])
  })

  it('ignores X-Forwarded-For from a proxy that is not trusted', async () => {
    const server = await startServer({ trustProxy: ['10.9.9.9'], restRateLimit: { max: 1, windowMs: 60_000 } })
    expect([await get(server, '10.0.0.1'), await get(server, '10.0.0.2')]).toEqual([404, 429])
  })

  it('counts WebSocket connections per forwarded client', async () => {
    const server = await startServer({ trustProxy: true, limits: { maxConnectionsPerIp: 1 } })
    expect(await open(server, '10.0.0.1')).toBe('open')
    expect(await open(server, '10.0.0.2')).toBe('open')
    expect(await open(server, '10.0.0.1')).toBe(1013)
  })

  it('parses true, false, hop counts and address lists, and refuses anything else in one line', () => {
    const parse = (value: string) => parseServeConfig([], { TRUST_PROXY: value }).trustProxy
    expect(parse('false')).toBe(false)
    expect(parse('true')).toBe(true)
    expect(parse('2')).toBe(2)
    expect(parse('127.0.0.1, 10.0.0.0/8,loopback')).toEqual(['127.0.0.1', '10.0.0.0/8', 'loopback'])
    expect(() => parse('the proxy')).toThrow(ConfigError)
    expect(() => parse('the proxy')).toThrow(/^TRUST_PROXY: "the proxy" is not true, false, a hop count, or addresses\/CIDRs$/)
  })
})
