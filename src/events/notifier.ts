/**
 * Turns what rooms report (room/events.ts) into change events, durably (docs/events.md):
 *
 * - every update this instance stores goes to the debouncer; when it fires, one
 *   `document.created` (the document had no watermark) or `document.updated` event is created for
 *   every seq past the document's watermark, in the same write that moves the watermark;
 * - a delete creates `document.deleted` and removes the watermark, in one write;
 * - at start, whatever the last process did not get to — a debounce that never fired, a delete
 *   it did not report — is found by comparing the stored documents with the watermarks, and
 *   reported then (origins `recovered`). The first start with events on takes the documents as
 *   they are as the starting point, rather than announcing every one of them as created.
 *
 * Delivery is the dispatcher's: records stay in the outbox until their sink has them.
 */
import type { DocStore } from '../storage/doc-store.js'
import type { EventOutbox, NewEvent } from '../storage/event-outbox.js'
import type { Logger } from '../logger.js'
import type { Room } from '../room/room.js'
import type { RoomObserver, StoredUpdate } from '../room/events.js'
import { eventBody, newEvent, type ChangeOrigins, type EventType } from './change-events.js'
import { Debouncer, type DebounceTiming, type Pending } from './debouncer.js'
import type { Dispatcher } from './dispatcher.js'

export class ChangeNotifier implements RoomObserver {
  private readonly debouncer: Debouncer
  /** Every document's watermark as this process knows it (the store's, plus what it enqueued). */
  private marks = new Map<string, number>()
  private readonly writes = new Set<Promise<void>>()
  private started = false

  constructor(
    private readonly store: DocStore,
    private readonly outbox: EventOutbox,
    private readonly sinks: readonly string[],
    private readonly wanted: ReadonlySet<EventType>,
    debounce: DebounceTiming,
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
  ) {
    this.debouncer = new Debouncer(debounce, (pending) => this.report(pending))
  }

  /** Loads the watermarks and reports what the previous process left unreported. */
  async start(): Promise<void> {
    this.marks = await this.outbox.watermarks()
    const firstStart = !(await this.outbox.initialized())
    const seen = new Set<string>()
    const events: NewEvent[] = []
    for (let after: string | undefined; ; ) {
      const page = await this.store.list({ after, limit: 500 })
      for (const info of page) {
        seen.add(info.name)
        const mark = this.marks.get(info.name)
        if (info.seq <= (mark ?? 0)) continue
        if (firstStart) events.push({ watermark: { name: info.name, seq: info.seq } })
        else events.push(this.event(mark === undefined ? 'document.created' : 'document.updated', info.name, (mark ?? 0) + 1, info.seq, { subjects: [], connections: 0, rest: false, recovered: true }))
      }
      if (page.length < 500) break
      after = page[page.length - 1]!.name
    }
    for (const name of this.marks.keys()) {
      if (!seen.has(name) && (await this.store.info(name)) === null) events.push(this.deletion(name))
    }
    await this.enqueue(events, firstStart)
    if (events.length > 0) this.log.info({ events: events.length, firstStart }, firstStart ? 'change events: starting from the stored documents' : 'change events: reported what the last run left unreported')
    this.started = true
    this.dispatcher.wake()
  }

  updateStored(room: Room, stored: StoredUpdate): void {
    // Another instance's update is reported by that instance.
    if (stored.origin.kind === 'remote') return
    const from = stored.origin.kind === 'peer' ? { connection: stored.origin.peer.id, subject: stored.origin.peer.subject } : { rest: true }
    this.debouncer.add(room.name, stored.seq, from)
  }

  documentDeleted(name: string): void {
    this.debouncer.forget(name)
    this.track(this.enqueue([this.deletion(name)]))
  }

  /** Reports what is gathered, waits for the writes; delivery goes on in the dispatcher until it stops. */
  async close(): Promise<void> {
    this.debouncer.flushAll()
    await Promise.allSettled([...this.writes])
  }

  private report(pending: Pending): void {
    const mark = this.marks.get(pending.name)
    const fromSeq = Math.min(pending.fromSeq, (mark ?? 0) + 1)
    if (pending.toSeq <= (mark ?? 0)) return // already reported (e.g. by the start-up scan)
    const type = mark === undefined ? 'document.created' : 'document.updated'
    this.track(this.enqueue([this.event(type, pending.name, fromSeq, pending.toSeq, pending.origins)]))
  }

  private event(type: EventType, name: string, fromSeq: number, toSeq: number, origins: ChangeOrigins): NewEvent {
    this.marks.set(name, toSeq)
    const event = newEvent(type, { name, fromSeq, toSeq, origins })
    return { eventId: event.id, body: eventBody(event), type, watermark: { name, seq: toSeq } }
  }

  private deletion(name: string): NewEvent {
    this.marks.delete(name)
    const event = newEvent('document.deleted', { name })
    return { eventId: event.id, body: eventBody(event), type: 'document.deleted', watermark: { name, seq: null } }
  }

  private async enqueue(events: NewEvent[], silent = false): Promise<void> {
    // A first start writes even with nothing to report: from then on the store counts as started.
    if (events.length === 0 && !silent) return
    await this.outbox.enqueue(events, (event) => (silent || !event.type || !this.wanted.has(event.type as EventType) ? [] : this.sinks))
    if (this.started) this.dispatcher.wake()
  }

  private track(write: Promise<void>): void {
    const tracked = write.catch((error: unknown) => this.log.error({ err: error }, 'change events could not be recorded'))
    this.writes.add(tracked)
    void tracked.finally(() => this.writes.delete(tracked))
  }
}
