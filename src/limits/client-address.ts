/**
 * Which address a request comes from, when Quire runs behind a load balancer or reverse proxy:
 * every client would otherwise share the proxy's address, and per-IP limits (REST rate limit,
 * WebSocket connections per IP) would count all of them together. The same trust setting goes
 * to Fastify (`request.ip`) and to WebSocket upgrades, so both agree.
 */
import type { IncomingMessage } from 'node:http'
import proxyaddr from '@fastify/proxy-addr'

/**
 * `false`: the socket's address (default). `true`: the left-most X-Forwarded-For entry, trusting
 * every hop (only when nothing but the proxy can reach Quire). A number: trust that many hops.
 * A list: trust proxies at these addresses or CIDR ranges (`loopback`, `uniquelocal` too).
 */
export type TrustProxy = boolean | number | string[]

/** The function proxy-addr and Fastify use to decide whether a hop may be believed. */
export function trustFunction(setting: TrustProxy): (address: string, hop: number) => boolean {
  if (setting === true) return () => true
  if (setting === false) return () => false
  if (typeof setting === 'number') return (_address, hop) => hop < setting
  return proxyaddr.compile(setting)
}

/** The client's address under `trust`: the socket's own unless trusted proxies forwarded it. */
export function clientAddress(request: IncomingMessage, trust: (address: string, hop: number) => boolean): string | undefined {
  if (!request.socket.remoteAddress) return undefined
  return proxyaddr(request, trust)
}
