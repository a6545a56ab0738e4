/**
 * Calls to a running server's REST API for the operator commands (`--server`). Turns what can go
 * wrong into messages for the person at the terminal: unreachable, token missing or refused,
 * the server's own `{message}`. A 429 from the REST rate limit is waited out (Retry-After), since
 * an operator command that walks every document sends many requests in a row.
 */
import { StoreRefusal } from './open-store.js'

/** The server answered with an error the command cannot get past. */
export class ServerError extends Error {
  override name = 'ServerError'
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

export interface CallOptions {
  /** A JSON body (sent as application/json), or bytes / a stream of bytes (application/octet-stream). */
  json?: unknown
  bytes?: Uint8Array | AsyncIterable<Uint8Array>
  /** Resolve with null on 404 instead of throwing. */
  missingOk?: boolean
}

const MAX_RATE_LIMIT_WAITS = 20

export class RestClient {
  /** Where the server is, without a trailing slash: `http://host:1234`, or `http://host/collab` under a basePath. */
  readonly base: string

  constructor(
    url: string,
    private readonly token: string | undefined,
    /** Told when the command waits for the rate limit. */
    private readonly onWait: (seconds: number) => void = () => {},
  ) {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new StoreRefusal('--server must be a URL such as http://127.0.0.1:1234')
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new StoreRefusal('--server must be an http:// or https:// URL')
    if (parsed.search || parsed.hash) throw new StoreRefusal('--server must not have a query string or fragment')
    this.base = (parsed.origin + parsed.pathname).replace(/\/+$/, '')
  }

  /** `/api/docs/<name><suffix>`, the name as one encoded path segment. */
  docPath(name: string, suffix = ''): string {
    return `/api/docs/${encodeURIComponent(name)}${suffix}`
  }

  async call(method: string, path: string, options: CallOptions = {}): Promise<Response | null> {
    const streamed = options.bytes !== undefined && !(options.bytes instanceof Uint8Array)
    for (let waits = 0; ; waits++) {
      const response = await this.send(method, path, options)
      if (response.status === 429 && !streamed && waits < MAX_RATE_LIMIT_WAITS) {
        const seconds = Math.min(60, Math.max(1, Number(response.headers.get('retry-after')) || 1))
        await response.body?.cancel()
        this.onWait(seconds)
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
        continue
      }
      if (response.ok) return response
      const failure = await this.failure(response)
      // A 404 of the document, not of the route (an older server without it): that is a refusal.
      if (response.status === 404 && options.missingOk && !(failure instanceof StoreRefusal)) return null
      throw failure
    }
  }

  /** GET, JSON answer; null on 404 when `missingOk`. */
  async json<T>(path: string, options: CallOptions = {}): Promise<T | null> {
    const response = await this.call('GET', path, options)
    return response && ((await response.json()) as T)
  }

  private async send(method: string, path: string, options: CallOptions): Promise<Response> {
    const headers: Record<string, string> = {}
    if (this.token) headers.authorization = `Bearer ${this.token}`
    let body: RequestInit['body']
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(options.json)
    } else if (options.bytes !== undefined) {
      headers['content-type'] = 'application/octet-stream'
      body = options.bytes
    }
    try {
      return await fetch(this.base + path, { method, headers, body, ...(body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array) && { duplex: 'half' }) })
    } catch (error) {
      throw new StoreRefusal(`cannot reach the server at ${this.base}: ${networkReason(error)}`)
    }
  }

  private async failure(response: Response): Promise<Error> {
    let message = `${response.status} ${response.statusText}`
    try {
      const body = (await response.json()) as { message?: unknown }
      if (typeof body.message === 'string') message = body.message
    } catch {}
    if (response.status === 401) {
      return new StoreRefusal(this.token ? `the server refused the token: ${message}` : `the server needs a token: pass --token or set QUIRE_TOKEN (${message})`)
    }
    if (response.status === 403) return new StoreRefusal(`the server refused: ${message}`)
    if (response.status === 404 && /^Route .* not found$/.test(message)) {
      return new StoreRefusal(`${this.base} has no such route (${message}): is it a Quire server, and as new as this command?`)
    }
    return new ServerError(response.status, `the server answered ${response.status}: ${message}`)
  }
}

/** "ECONNREFUSED", "getaddrinfo ENOTFOUND host"…: fetch hides the reason in `cause`. */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  return cause?.code ?? cause?.message ?? (error as Error).message
}
