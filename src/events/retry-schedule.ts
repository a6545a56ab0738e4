/**
 * When to try a webhook delivery again. The default schedule is the one the Standard Webhooks
 * specification suggests (after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), each delay spread by
 * ±20 % jitter so that receivers coming back after an outage are not hit by every sender at once.
 * A receiver's Retry-After is honoured when it asks for longer, within the schedule's longest step.
 */
export const DEFAULT_RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]

export const JITTER = 0.2

/**
 * Milliseconds before attempt `attempt + 1` after attempt `attempt` (1-based) failed, or null
 * when the schedule is exhausted (the event goes to the dead letters).
 */
export function retryDelay(schedule: readonly number[], attempt: number, retryAfterMs: number | null = null, random: () => number = Math.random): number | null {
  const base = schedule[attempt - 1]
  if (base === undefined) return null
  const jittered = Math.round(base * (1 - JITTER + 2 * JITTER * random()))
  if (retryAfterMs === null || retryAfterMs <= jittered) return jittered
  return Math.min(retryAfterMs, Math.max(...schedule))
}

/** A Retry-After header (delay in seconds, or an HTTP date) in ms from `now`; null if absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | null {
  if (!value) return null
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const at = Date.parse(text)
  return Number.isNaN(at) ? null : Math.max(0, at - now)
}

/** Parses `5s,5m,30m,2h` (s, m, h; bare numbers are ms) into a schedule. Throws on anything else. */
export function parseRetrySchedule(text: string): number[] {
  const units: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  const steps = text.split(',').map((part) => part.trim()).filter((part) => part !== '')
  if (steps.length === 0) throw new Error('a retry schedule lists at least one delay, e.g. 5s,5m,30m')
  return steps.map((step) => {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(step)
    if (!match) throw new Error(`"${step}" is not a delay like 5s, 5m or 2h`)
    return Math.round(Number(match[1]) * units[match[2] ?? '']!)
  })
}
