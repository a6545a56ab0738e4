/**
 * Which browser origins may use the server: the `--allowed-origins` setting and the check the
 * WebSocket upgrade and the REST/admin hooks apply to a request's `Origin` header. Pure: no
 * HTTP framework, no I/O, so the transport and the HTTP layer share one rule.
 *
 * A browser attaches `Origin` to every WebSocket handshake and to every cross-origin or
 * state-changing fetch, and a page cannot forge it. Without this check, any site a user visits
 * could open `ws://127.0.0.1:1234/<doc>` and read or write a document of an unauthenticated
 * server on their machine or intranet: WebSockets are not subject to CORS.
 *
 * The setting is a list of entries:
 * - `auto` (the default): requests without `Origin` (non-browser clients: Node, curl, backends);
 *   same-origin requests (the `Origin`'s host and port equal the request's `Host`: Quire's own
 *   demo and dashboard); loopback origins (`localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`, any
 *   port: local dev servers); and, when authentication is on, every origin, because Quire's tokens
 *   are never ambient (query, subprotocol or `Authorization` header, no cookies), so a cross-site
 *   page has no credential to ride on.
 * - `*`: every origin.
 * - `none`: no browser origin at all, only requests without `Origin`.
 * - exact origins, `scheme://host[:port]`: `https://app.example:8443`.
 * Entries add up (`auto,https://app.example`). A list without `auto` replaces the default rule
 * entirely, same-origin and loopback included; requests without `Origin` always pass.
 */

/** `(request Origin header, request Host header) → may this request proceed?` */
export type OriginCheck = (origin: string | undefined, host: string | undefined) => boolean

export interface OriginPolicy {
  /** `*`: every origin. */
  readonly any: boolean
  /** `auto`: same-origin, loopback, and every origin when authentication is on. */
  readonly auto: boolean
  /** Exact origins, normalized by `URL` (lower case, default port dropped, IDN as punycode). */
  readonly exact: ReadonlySet<string>
}

export const DEFAULT_ALLOWED_ORIGINS = 'auto'

/** A malformed `--allowed-origins` entry; the message names the entry and says what is expected. */
export class OriginSettingError extends Error {
  override name = 'OriginSettingError'
}

/**
 * Parses the setting: a comma-separated string or a list of entries. An empty setting is the
 * default (`auto`): an environment variable set to nothing usually means "not set".
 */
export function parseAllowedOrigins(setting: string | readonly string[]): OriginPolicy {
  const entries = (typeof setting === 'string' ? setting.split(',') : setting.flatMap((entry) => entry.split(',')))
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
  if (entries.length === 0) entries.push(DEFAULT_ALLOWED_ORIGINS)
  if (entries.includes('none') && entries.length > 1) throw new OriginSettingError('"none" cannot be combined with other entries')
  const exact = new Set<string>()
  let any = false
  let auto = false
  for (const entry of entries) {
    if (entry === '*') any = true
    else if (entry === 'auto') auto = true
    else if (entry !== 'none') exact.add(originOfEntry(entry))
  }
  return { any, auto, exact }
}

/** Builds the check for a policy; `authEnabled` widens `auto` to every origin (see above). */
export function originCheck(policy: OriginPolicy, { authEnabled }: { authEnabled: boolean }): OriginCheck {
  const everyone = policy.any || (policy.auto && authEnabled)
  return (origin, host) => {
    // No Origin: not a browser page acting cross-origin (browsers send it on every request that matters).
    if (origin === undefined) return true
    if (everyone) return true
    const parsed = parseOrigin(origin)
    if (!parsed) return false // `null` (sandboxed frames, file: pages) or garbage: an opaque origin is no one's
    if (policy.exact.has(parsed.origin)) return true
    if (!policy.auto) return false
    return isLoopbackHost(parsed.hostname) || sameHost(parsed, host)
  }
}

/** Shorthand: parse `setting` and build its check. Throws OriginSettingError. */
export function allowedOrigins(setting: string | readonly string[], options: { authEnabled: boolean }): OriginCheck {
  return originCheck(parseAllowedOrigins(setting), options)
}

/**
 * The origins CORS should answer for: the policy's exact origins, `*` for `*`, none otherwise.
 * `auto` adds no CORS headers: same-origin pages need none, and a cross-origin app that calls the
 * REST API from JavaScript is something to list by name.
 */
export function corsOriginsOf(policy: OriginPolicy): string[] {
  if (policy.any) return ['*']
  return [...policy.exact]
}

/** `localhost`, `*.localhost` (RFC 6761: browsers resolve it to loopback), 127.0.0.0/8 and `[::1]`. */
export function isLoopbackHost(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '')
  if (name === 'localhost' || name.endsWith('.localhost')) return true
  if (name === '[::1]' || name === '::1') return true
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)
}

interface ParsedOrigin {
  origin: string
  protocol: string
  hostname: string
  /** Explicit or the scheme's default. */
  port: string
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' }

/** An `Origin` header value as the browser sends it: `scheme://host[:port]`, http(s) only. */
function parseOrigin(text: string): ParsedOrigin | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return undefined
  }
  const defaultPort = DEFAULT_PORTS[url.protocol]
  if (!defaultPort || url.username || url.password) return undefined
  return { origin: url.origin, protocol: url.protocol, hostname: url.hostname, port: url.port || defaultPort }
}

function originOfEntry(entry: string): string {
  const expected = `${JSON.stringify(entry)} is not an origin: expected auto, none, * or scheme://host[:port] (http or https, no path)`
  // `*` parses as a host character, so `https://*.example` would be an origin that never matches.
  if (entry.includes('*')) throw new OriginSettingError(`${JSON.stringify(entry)}: wildcards are not supported, only * alone (every origin) or exact origins`)
  // A bare trailing slash is tolerated (copied from an address bar); any other path is a mistake.
  if (!/^https?:\/\/[^/?#@\s]+\/?$/i.test(entry)) throw new OriginSettingError(expected)
  const parsed = parseOrigin(entry)
  if (!parsed) throw new OriginSettingError(expected)
  return parsed.origin
}

/**
 * Same-origin by the request's `Host`: hostname and port equal. A `Host` without a port means the
 * default port of the page's scheme (behind a TLS-terminating proxy the server cannot tell its own
 * scheme). The proxy must forward `Host` unchanged (nginx: `proxy_set_header Host $host`), or the
 * public origin has to be listed.
 */
function sameHost(origin: ParsedOrigin, host: string | undefined): boolean {
  // Only a plain host[:port]: no userinfo, path or spaces that URL parsing would reinterpret.
  if (!host || !/^(\[[0-9a-f:.]+\]|[^\s/?#@[\]:]+)(:\d{1,5})?$/i.test(host)) return false
  let url: URL
  try {
    url = new URL(`http://${host}`)
  } catch {
    return false
  }
  const explicitPort = /:(\d+)$/.exec(host)?.[1]
  const port = explicitPort === undefined ? DEFAULT_PORTS[origin.protocol] : String(Number(explicitPort))
  return url.hostname === origin.hostname && port === origin.port
}
