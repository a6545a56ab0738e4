/**
 * Webhook signing checked with the Standard Webhooks reference library (what receivers use), and
 * the retry schedule's arithmetic.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Webhook } from 'standardwebhooks'
import { parseWebhookSecret, signWebhook } from '../src/events/webhook-signing.js'
import { DEFAULT_RETRY_SCHEDULE_MS, parseRetryAfter, parseRetrySchedule, retryDelay } from '../src/events/retry-schedule.js'

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`

describe('webhook signatures', () => {
  it('verify with the Standard Webhooks library, for each secret during a rotation', () => {
    const [oldSecret, newOne] = [newSecret(), newSecret()]
    const body = JSON.stringify({ type: 'document.updated', data: { name: 'notes', fromSeq: 3, toSeq: 9 } })
    const now = Math.floor(Date.now() / 1000)
    const headers = signWebhook([oldSecret, newOne].map(parseWebhookSecret), 'evt_01', now, body)
    for (const secret of [oldSecret, newOne]) expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body))
    // A receiver with another secret, or a body changed on the way, refuses it.
    expect(() => new Webhook(newSecret()).verify(body, { ...headers })).toThrow()
    expect(() => new Webhook(oldSecret).verify(body.replace('9', '8'), { ...headers })).toThrow()
  })

  it('refuses secrets that are not whsec_ and base64 of enough bytes', () => {
    expect(() => parseWebhookSecret('hunter2')).toThrow(/whsec_/)
    expect(() => parseWebhookSecret('whsec_c2hvcnQ=')).toThrow(/24 random bytes/)
    expect(() => parseWebhookSecret(`whsec_${randomBytes(32).toString('base64')}!!`)).toThrow(/24 random bytes/)
    expect(parseWebhookSecret(newSecret())).toHaveLength(32)
  })
})

describe('retry schedule', () => {
  it('follows the schedule with ±20 % jitter and ends when it is exhausted', () => {
    expect(retryDelay(DEFAULT_RETRY_SCHEDULE_MS, 1, null, () => 0)).toBe(4000)
    expect(retryDelay(DEFAULT_RETRY_SCHEDULE_MS, 1, null, () => 1)).toBe(6000)
    expect(retryDelay(DEFAULT_RETRY_SCHEDULE_MS, 2, null, () => 0.5)).toBe(300_000)
    expect(retryDelay(DEFAULT_RETRY_SCHEDULE_MS, DEFAULT_RETRY_SCHEDULE_MS.length + 1)).toBeNull()
  })

  it('honours a longer Retry-After, capped by the longest step', () => {
    expect(retryDelay([1000, 2000], 1, 1500, () => 0.5)).toBe(1500)
    expect(retryDelay([1000, 2000], 1, 500, () => 0.5)).toBe(1000)
    expect(retryDelay([1000, 2000], 1, 60_000, () => 0.5)).toBe(2000)
    expect(parseRetryAfter('120')).toBe(120_000)
    expect(parseRetryAfter(new Date(Date.now() + 30_000).toUTCString())).toBeGreaterThan(28_000)
    expect(parseRetryAfter('soon')).toBeNull()
  })

  it('parses a schedule from text', () => {
    expect(parseRetrySchedule('5s, 5m,30m,2h,250')).toEqual([5000, 300_000, 1_800_000, 7_200_000, 250])
    expect(() => parseRetrySchedule('5 minutes')).toThrow(/not a delay/)
    expect(() => parseRetrySchedule('')).toThrow(/at least one/)
  })
})
