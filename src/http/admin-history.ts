/**
 * The dashboard's recent history: one sample per snapshot (connections, updates and bytes per
 * second, event-loop delay), kept for five minutes. It lives on the server rather than only in
 * the page so that a dashboard opened or reloaded shows the last minutes at once, and every
 * open dashboard shows the same curve. Samples are taken only while a dashboard is open (the
 * snapshot timer runs only then), so an unwatched server does no work for it; the page draws
 * the unwatched time as a gap.
 */
import { createHistogram, performance } from 'node:perf_hooks'

export interface Sample {
  /** Epoch ms. */
  at: number
  connections: number
  updatesPerSecond: number
  bytesInPerSecond: number
  bytesOutPerSecond: number
  /** The 99th percentile of event-loop delay since the previous sample, in ms (beyond the monitor's own timer). */
  loopDelayMs: number
}

export const HISTORY_MS = 5 * 60_000
/** Bounds memory whatever the interval (a dashboard refreshed twice a second still fits five minutes). */
const MAX_SAMPLES = 600
/** The event-loop probe's period, ms: fine enough to see a stall, cheap enough to leave on while watched. */
const RESOLUTION_MS = 10

export interface SampleInput {
  connections: number
  updatesPerSecond: number
  /** Running totals since start; the rate is taken between samples. */
  bytesIn: number
  bytesOut: number
}

export class AdminHistory {
  private readonly samples: Sample[] = []
  private readonly loop = new LoopDelay()
  private previous: { at: number; bytesIn: number; bytesOut: number } | undefined

  /** Adds the sample for `at` and returns it. */
  record(at: number, input: SampleInput): Sample {
    const before = this.previous
    this.previous = { at, bytesIn: input.bytesIn, bytesOut: input.bytesOut }
    const seconds = before ? (at - before.at) / 1000 : 0
    const rate = (now: number, then: number) => (seconds > 0 ? Math.max(0, now - then) / seconds : 0)
    const sample: Sample = {
      at,
      connections: input.connections,
      updatesPerSecond: input.updatesPerSecond,
      bytesInPerSecond: before ? rate(input.bytesIn, before.bytesIn) : 0,
      bytesOutPerSecond: before ? rate(input.bytesOut, before.bytesOut) : 0,
      loopDelayMs: this.loop.take(),
    }
    this.samples.push(sample)
    const cutoff = at - HISTORY_MS
    while (this.samples.length > MAX_SAMPLES || (this.samples[0] && this.samples[0].at < cutoff)) this.samples.shift()
    return sample
  }

  /** The samples of the last five minutes, oldest first. */
  history(): Sample[] {
    const cutoff = Date.now() - HISTORY_MS
    return this.samples.filter((sample) => sample.at >= cutoff)
  }

  /** Nobody is watching: stop probing the event loop until the next sample. */
  pause(): void {
    this.loop.stop()
  }
}

/**
 * How late a 10 ms timer fires, as a histogram emptied at every sample. A timer of our own
 * rather than perf_hooks.monitorEventLoopDelay: that one skips the first period after each
 * reset, which is exactly when the dashboard serialises and sends its snapshot, so its own
 * cost would never show.
 */
class LoopDelay {
  private readonly histogram = createHistogram()
  private timer: NodeJS.Timeout | undefined
  private due = 0

  /** The 99th percentile since the last call, in ms; starts probing on the first call (0 then). */
  take(): number {
    if (!this.timer) {
      this.due = performance.now() + RESOLUTION_MS
      this.timer = setInterval(() => {
        const now = performance.now()
        this.histogram.record(Math.max(1, Math.round((now - this.due) * 1e6))) // ns; a histogram takes ≥ 1
        this.due = now + RESOLUTION_MS
      }, RESOLUTION_MS)
      this.timer.unref() // a watched server still exits when told to
      return 0
    }
    const delay = this.histogram.count > 0 ? this.histogram.percentile(99) / 1e6 : 0
    this.histogram.reset()
    return Math.round(delay * 10) / 10
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.histogram.reset()
  }
}
