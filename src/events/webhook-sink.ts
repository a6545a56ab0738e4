/**
 * Delivers events to one HTTP endpoint, Standard Webhooks style: POST the JSON body with
 * `webhook-id` (the event's id, the same on every attempt), `webhook-timestamp` and
 * `webhook-signature`. A 2xx is delivered; 410 Gone means the endpoint wants nothing more (it is
 * disabled); anything else, a timeout or a network error is retried, after the receiver's
 * Retry-After when it sends one.
 */
import { parseWebhookSecret, signWebhook } from './webhook-signing.js'
import { parseRetryAfter } from './retry-schedule.js'

export type Outcome = { kind: 'delivered' } | { kind: 'retry'; error: string; retryAfterMs: number | null } | { kind: 'gone'; error: string }

export interface Sink {
  /** Stable name: outbox records are kept per sink. */
  readonly name: string
  deliver(eventId: string, body: string): Promise<Outcome>
}

export interface WebhookOptions {
  url: string
  /** `whsec_…` secrets; every one signs (several during a rotation). */
  secrets: string[]
  timeoutMs: number
}

export class WebhookSink implements Sink {
  readonly name: string
  private readonly keys: Buffer[]

  constructor(private readonly options: WebhookOptions) {
    const url = new URL(options.url)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`webhook URL ${options.url} is not http(s)`)
    if (options.secrets.length === 0) throw new Error(`webhook ${options.url} needs a secret (whsec_…): receivers must be able to verify`)
    this.keys = options.secrets.map(parseWebhookSecret)
    // The URL without credentials or query: it names the sink in the outbox, metrics and logs.
    this.name = `webhook:${url.origin}${url.pathname}`
  }

  async deliver(eventId: string, body: string): Promise<Outcome> {
    const headers = signWebhook(this.keys, eventId, Math.floor(Date.now() / 1000), body)
    let response: Response
    try {
      response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'quire-webhooks', ...headers },
        body,
        redirect: 'manual', // a redirect is not a delivery
        signal: AbortSignal.timeout(this.options.timeoutMs),
      })
    } catch (error) {
      const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${this.options.timeoutMs} ms` : (error as Error).message
      return { kind: 'retry', error: reason, retryAfterMs: null }
    }
    await response.body?.cancel().catch(() => {}) // the answer's body is not used; free the socket
    if (response.status >= 200 && response.status < 300) return { kind: 'delivered' }
    if (response.status === 410) return { kind: 'gone', error: 'the endpoint answered 410 Gone' }
    return { kind: 'retry', error: `HTTP ${response.status}`, retryAfterMs: parseRetryAfter(response.headers.get('retry-after')) }
  }
}
