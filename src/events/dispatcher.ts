/**
 * Works through the outbox, one loop per sink: delivers what is due, oldest first; on failure
 * saves the attempt and the next due time (the retry schedule); when the schedule is exhausted,
 * or the endpoint answered 410, moves the record to the dead letters. A sink that keeps failing
 * trips its circuit breaker: it is left alone for a while instead of being tried for every
 * waiting event, then one attempt decides whether it is back.
 *
 * Records are claimed for a lease (event-outbox.ts): with several instances on one database, a
 * record is attempted by the one that claimed it, and by another once the lease ran out (the
 * claimer died). A batch is worked through only while the lease leaves time for one more attempt;
 * what is left is given back, so that a slow endpoint does not make two instances send one record.
 */
import type { EventOutbox, OutboxRecord } from '../storage/event-outbox.js'
import type { Logger } from '../logger.js'
import type { Sink } from './webhook-sink.js'
import { retryDelay } from './retry-schedule.js'

export interface DispatchMetrics {
  delivery(sink: string, outcome: 'delivered' | 'failed' | 'dead'): void
}

export interface DispatchOptions {
  retrySchedule: readonly number[]
  /** Consecutive failures that open a sink's breaker, and how long it stays open. */
  breakerFailures: number
  breakerOpenMs: number
  /** How often each sink's loop looks for due records when idle. */
  pollMs: number
  /** Longest one attempt takes (the sinks' timeout), and how long a claim lasts (about twice that). */
  attemptMs: number
  leaseMs: number
}

export const DEFAULT_DISPATCH: Omit<DispatchOptions, 'retrySchedule'> = { breakerFailures: 5, breakerOpenMs: 30_000, pollMs: 1000, attemptMs: 10_000, leaseMs: 20_000 }

class SinkLoop {
  private failures = 0
  private openUntil = 0
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private stopped = false

  constructor(
    private readonly sink: Sink,
    private readonly outbox: EventOutbox,
    private readonly options: DispatchOptions,
    private readonly log: Logger,
    private readonly metrics: DispatchMetrics,
  ) {}

  /** Looks for due records now (new events were enqueued). */
  wake(): void {
    if (this.stopped || this.running) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.running = this.run()
      .catch((error: unknown) => this.log.error({ err: error, sink: this.sink.name }, 'event delivery loop failed'))
      .finally(() => {
        this.running = null
        this.schedule(this.options.pollMs)
      })
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    await this.running
  }

  private schedule(ms: number): void {
    if (this.stopped) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => this.wake(), ms)
    this.timer.unref()
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.stopped || Date.now() < this.openUntil) return
      // Taken before the claim: the lease starts later (when the database runs it), so it ends no earlier.
      const leaseEnds = Date.now() + this.options.leaseMs
      const due = await this.outbox.claim(this.sink.name, 100, this.options.leaseMs)
      if (due.length === 0) return
      for (const [i, record] of due.entries()) {
        const halted = this.stopped || Date.now() < this.openUntil
        // The first record is always attempted: a lease too short for even one cannot spin this loop.
        if (halted || (i > 0 && Date.now() + this.options.attemptMs * 1.25 > leaseEnds)) {
          await this.outbox.release(due.slice(i))
          if (halted) return
          break // claim again, with a fresh lease
        }
        await this.attempt(record)
      }
    }
  }

  private async attempt(record: OutboxRecord): Promise<void> {
    const outcome = await this.sink.deliver(record.eventId, record.body)
    if (outcome.kind === 'delivered') {
      this.failures = 0
      await this.outbox.delivered(record)
      this.metrics.delivery(this.sink.name, 'delivered')
      return
    }
    this.failures++
    if (this.failures >= this.options.breakerFailures) {
      this.openUntil = Date.now() + this.options.breakerOpenMs
      this.log.warn({ sink: this.sink.name, failures: this.failures }, `event sink keeps failing; pausing it for ${this.options.breakerOpenMs} ms`)
    }
    const attempts = record.attempts + 1
    const delay = outcome.kind === 'gone' ? null : retryDelay(this.options.retrySchedule, attempts, outcome.retryAfterMs)
    const updated: OutboxRecord = { ...record, attempts, lastError: outcome.error, dueAt: Date.now() + (delay ?? 0) }
    if (delay === null) {
      await this.outbox.bury(updated)
      this.metrics.delivery(this.sink.name, 'dead')
      this.log.warn({ sink: this.sink.name, event: record.eventId, error: outcome.error, attempts }, 'event moved to the dead letters')
    } else {
      await this.outbox.retryLater(updated)
      this.metrics.delivery(this.sink.name, 'failed')
    }
  }
}

export class Dispatcher {
  private readonly loops: SinkLoop[]

  constructor(sinks: readonly Sink[], outbox: EventOutbox, options: DispatchOptions, log: Logger, metrics: DispatchMetrics) {
    this.loops = sinks.map((sink) => new SinkLoop(sink, outbox, options, log, metrics))
  }

  wake(): void {
    for (const loop of this.loops) loop.wake()
  }

  async stop(): Promise<void> {
    await Promise.all(this.loops.map((loop) => loop.stop()))
  }
}
