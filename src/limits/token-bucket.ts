/**
 * Per-connection message rate limit. A bucket of `burst` tokens refilled at `perSecond`: a
 * client may send a burst (initial sync, a paste, an offline catch-up) but not sustain more
 * than the refill rate. Typing with awareness is ~20 messages/s, far below the default 200;
 * awareness echoes are not counted (see awareness-echo.ts).
 */
export class TokenBucket {
  private tokens: number
  private last = performance.now()

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
  ) {
    this.tokens = burst
  }

  /** Takes one token; false when the bucket is empty (the client exceeded its rate). */
  take(): boolean {
    const now = performance.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond)
    this.last = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}
