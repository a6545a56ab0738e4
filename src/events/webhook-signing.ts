/**
 * Webhook signatures as the Standard Webhooks specification defines them, so that receivers can
 * verify Quire's deliveries with any of its libraries: the signed content is
 * `<webhook-id>.<webhook-timestamp>.<body>`, signed with HMAC-SHA256 under the secret's bytes (the
 * base64 after `whsec_`), sent as `v1,<base64 signature>`; during a rotation every current secret
 * signs, space-separated, and the receiver accepts any.
 */
import { createHmac } from 'node:crypto'

const PREFIX = 'whsec_'

/** A `whsec_…` secret's key bytes. Throws with a readable reason for anything else. */
export function parseWebhookSecret(secret: string): Buffer {
  if (!secret.startsWith(PREFIX)) throw new Error('a webhook secret starts with whsec_ followed by base64')
  const encoded = secret.slice(PREFIX.length)
  const key = Buffer.from(encoded, 'base64')
  // Buffer.from ignores what is not base64: round-trip to refuse typos instead of signing with fewer bytes.
  if (key.length < 24 || key.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) {
    throw new Error('a webhook secret is whsec_ followed by the base64 of at least 24 random bytes')
  }
  return key
}

export interface SignedHeaders {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

/** The three headers of one delivery attempt of `body` (the exact bytes sent). */
export function signWebhook(keys: readonly Buffer[], id: string, timestampSeconds: number, body: string): SignedHeaders {
  const content = `${id}.${timestampSeconds}.${body}`
  const signatures = keys.map((key) => `v1,${createHmac('sha256', key).update(content).digest('base64')}`)
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': signatures.join(' ') }
}
