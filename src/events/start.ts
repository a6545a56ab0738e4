/** Starts change events (docs/events.md): the notifier observing the rooms, and the dispatcher. */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { DocStore } from '../storage/doc-store.js'
import type { RoomRegistry } from '../room/registry.js'
import type { Logger } from '../logger.js'
import { DEFAULT_EVENT_TYPES, type EventType } from './change-events.js'
import { DEFAULT_DEBOUNCE, type DebounceTiming } from './debouncer.js'
import { DEFAULT_DISPATCH, Dispatcher, type DispatchOptions } from './dispatcher.js'
import { ChangeNotifier } from './notifier.js'
import { ActivityNotifier } from './activity.js'
import { DEFAULT_RETRY_SCHEDULE_MS } from './retry-schedule.js'
import { WebhookSink, type Sink } from './webhook-sink.js'
import { NatsSink, type NatsOptions } from './nats-sink.js'

export interface ChangeEventOptions {
  /** Endpoints to POST events to, each with its `whsec_…` secrets (several during a rotation). */
  webhooks: Array<{ url: string; secrets: string[] }>
  /** Publish events to NATS JetStream too (subject default `quire.events`, stream `QUIRE_EVENTS`). */
  nats?: { url: string; subject?: string; stream?: string }
  /** Which events to send; default DEFAULT_EVENT_TYPES (connection.* only when listed). */
  events?: EventType[]
  /** `document.updated` is sent after this long without changes (default 2 s), or this long after the first (10 s). */
  debounce?: Partial<DebounceTiming>
  /** Delays between attempts, ms; default the Standard Webhooks schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h). */
  retrySchedule?: number[]
  /** Give up on one attempt after this long (default 10 s). */
  timeoutMs?: number
  /** Circuit breaker, polling and claims (tests shorten them); a claim lasts twice `timeoutMs` by default. */
  dispatch?: Partial<Omit<DispatchOptions, 'retrySchedule'>>
  /** On a store several instances share: how often to scan for changes nobody reported (default 30 s). */
  scanMs?: number
}

export interface RunningEvents {
  close(): Promise<void>
}

export async function startChangeEvents(options: ChangeEventOptions, registry: RoomRegistry, store: DocStore, prometheus: Registry, log: Logger): Promise<RunningEvents> {
  const outbox = store.events
  if (!outbox) throw new Error('change events need a store that keeps an event outbox (the LevelDB and PostgreSQL stores do)')
  const timeoutMs = options.timeoutMs ?? 10_000
  const sinks: Sink[] = options.webhooks.map((hook) => new WebhookSink({ url: hook.url, secrets: hook.secrets, timeoutMs }))
  const nats = options.nats
    ? await NatsSink.open({ url: options.nats.url, subject: options.nats.subject ?? 'quire.events', stream: options.nats.stream ?? 'QUIRE_EVENTS', timeoutMs } satisfies NatsOptions)
    : undefined
  if (nats) sinks.push(nats)
  const names = sinks.map((sink) => sink.name)
  if (new Set(names).size !== names.length) throw new Error('the same webhook URL is configured twice')
  const registers = [prometheus]
  const deliveries = new Counter({ name: 'quire_event_deliveries_total', help: 'Change event delivery attempts by sink and outcome (failed: will retry; dead: gave up)', labelNames: ['sink', 'outcome'], registers })
  new Gauge({
    name: 'quire_event_outbox_records',
    help: 'Change events waiting for delivery (one per event and sink)',
    registers,
    async collect() {
      this.set((await outbox.depth()).records)
    },
  })
  new Gauge({
    name: 'quire_event_outbox_oldest_seconds',
    help: 'Age of the oldest change event waiting for delivery (0 when none)',
    registers,
    async collect() {
      const { oldestCreatedAt } = await outbox.depth()
      this.set(oldestCreatedAt === null ? 0 : (Date.now() - oldestCreatedAt) / 1000)
    },
  })
  const dispatcher = new Dispatcher(
    sinks,
    outbox,
    { ...DEFAULT_DISPATCH, attemptMs: timeoutMs, leaseMs: 2 * timeoutMs, ...options.dispatch, retrySchedule: options.retrySchedule ?? DEFAULT_RETRY_SCHEDULE_MS },
    log,
    { delivery: (sink, outcome) => deliveries.inc({ sink, outcome }) },
  )
  const wanted = new Set<EventType>(options.events ?? DEFAULT_EVENT_TYPES)
  const notifier = new ChangeNotifier(outbox, names, wanted, { ...DEFAULT_DEBOUNCE, ...options.debounce }, dispatcher, log, options.scanMs)
  await notifier.start()
  registry.observe(notifier)
  const activity = new ActivityNotifier(outbox, names, wanted, dispatcher, log)
  registry.observe(activity)
  return {
    async close() {
      await Promise.all([notifier.close(), activity.close()])
      await dispatcher.stop()
      await nats?.close()
    },
  }
}
