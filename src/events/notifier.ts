/**
 * Turns what rooms report (room/events.ts) into change events, durably (docs/events.md):
 *
 * - every update this instance stores goes to the debouncer; when it fires, the outbox creates one
 *   `document.created` (the document had no watermark) or `document.updated` event for every seq
 *   past the document's stored watermark up to the last one gathered, in the same atomic step that
 *   moves the watermark. The range and the type come from the store, not from this process: with
 *   several instances on one database each reports only its own updates, and the watermark is
 *   what the others reported up to;
 * - a delete creates `document.deleted` and removes the watermark, in one write;
 * - at start, whatever the last process did not get to — a debounce that never fired, a delete
 *   it did not report — is found by comparing the stored documents with the watermarks, and
 *   reported then (origins `recovered`). The first start with events on takes the documents as
 *   they are as the starting point, rather than announcing every one of them as created;
 * - on a store several instances share, one that dies leaves changes the others never hear of
 *   (each reports its own), so every instance scans periodically, taking turns, for changes older
 *   than a debounce that nobody reported. Reporting is idempotent: a scan racing the debounce of
 *   the instance that made the changes creates nothing twice.
 *
 * Delivery is the dispatcher's: records stay in the outbox until their sink has them.
 */
import type { ChangeRange, EventOutbox, NewEvent } from '../storage/event-outbox.js'
import type { Logger } from '../logger.js'
import type { Room } from '../room/room.js'
import type { RoomObserver, StoredUpdate } from '../room/events.js'
import { eventBody, newEvent, type ChangeOrigins, type EventType } from './change-events.js'
import { Debouncer, type DebounceTiming, type Pending } from './debouncer.js'
import type { Dispatcher } from './dispatcher.js'

/** How often an instance on a shared store scans for changes nobody reported (tests shorten it). */
export const DEFAULT_SCAN_MS = 30_000

const RECOVERED: ChangeOrigins = { subjects: [], connections: 0, rest: false, recovered: true }

export class ChangeNotifier implements RoomObserver {
  private readonly debouncer: Debouncer
  private readonly writes = new Set<Promise<void>>()
  private started = false
  private scanner: NodeJS.Timeout | null = null
  private scanning: Promise<void> | null = null
  /** Orphaned watermarks the previous periodic scan found: reported when the next finds them again. */
  private suspects = new Set<string>()

  constructor(
    private readonly outbox: EventOutbox,
    private readonly sinks: readonly string[],
    private readonly wanted: ReadonlySet<EventType>,
    private readonly debounce: DebounceTiming,
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
    private readonly scanMs = DEFAULT_SCAN_MS,
  ) {
    this.debouncer = new Debouncer(debounce, (pending) => this.report(pending))
  }

  /** Takes the stored documents as the starting point, or reports what was left unreported. */
  async start(): Promise<void> {
    const baselined = await this.outbox.baseline()
    if (baselined !== null) {
      if (baselined > 0) this.log.info({ documents: baselined }, 'change events: starting from the stored documents')
    } else {
      // On a shared store, changes younger than a debounce may be a running instance's, still gathering.
      const made = await this.recover(this.outbox.shared ? this.debounce.maxMs : 0, false)
      if (made > 0) this.log.info({ events: made }, 'change events: reported what the last run left unreported')
    }
    this.started = true
    if (this.outbox.shared) {
      this.scanner = setInterval(() => this.scan(), this.scanMs)
      this.scanner.unref()
    }
    this.dispatcher.wake()
  }

  updateStored(room: Room, stored: StoredUpdate): void {
    // Another instance's update is reported by that instance (or, if it dies, by a scan).
    if (stored.origin.kind === 'remote') return
    const from = stored.origin.kind === 'peer' ? { connection: stored.origin.peer.id, subject: stored.origin.peer.subject } : { rest: true }
    this.debouncer.add(room.name, stored.seq, from)
  }

  documentDeleted(name: string): void {
    this.debouncer.forget(name)
    this.track(this.enqueue([this.deletion(name, false)]))
  }

  /** Reports what is gathered, waits for the writes; delivery goes on in the dispatcher until it stops. */
  async close(): Promise<void> {
    if (this.scanner) clearInterval(this.scanner)
    this.scanner = null
    await this.scanning
    this.debouncer.flushAll()
    await Promise.allSettled([...this.writes])
  }

  private report(pending: Pending): void {
    const made = this.outbox.reportChanges([{ name: pending.name, toSeq: pending.toSeq }], (range) => this.compose(range, pending.origins), this.sinksOf)
    this.track(made.then((count) => void (count > 0 && this.started && this.dispatcher.wake())))
  }

  /** Reports unreported changes last made over `quietMs` ago, and deletions nobody reported. */
  private async recover(quietMs: number, periodic: boolean): Promise<number> {
    const { changed, orphaned } = await this.outbox.unreported(quietMs)
    let made = await this.outbox.reportChanges(changed.map((c) => ({ name: c.name, toSeq: c.seq })), (range) => this.compose(range, RECOVERED), this.sinksOf)
    // While running, the instance that deleted a document may be about to report it: a scan
    // reports an orphaned watermark only when the previous scan found it already.
    const gone = periodic ? orphaned.filter((name) => this.suspects.has(name)) : orphaned
    if (periodic) this.suspects = new Set(orphaned)
    for (const name of gone) await this.enqueue([this.deletion(name, true)])
    made += gone.length
    if (made > 0 && this.started) this.dispatcher.wake()
    return made
  }

  private scan(): void {
    if (this.scanning) return
    this.scanning = (async () => {
      if (!(await this.outbox.scanTurn(this.scanMs))) return // another instance scanned just now
      const made = await this.recover(this.debounce.maxMs, true)
      if (made > 0) this.log.info({ events: made }, 'change events: reported changes no running instance had reported')
    })()
      .catch((error: unknown) => this.log.warn({ err: error }, 'change events: the scan for unreported changes failed'))
      .finally(() => (this.scanning = null))
  }

  private compose(range: ChangeRange, origins: ChangeOrigins): { eventId: string; body: string; type: EventType } {
    const type = range.created ? 'document.created' : 'document.updated'
    const event = newEvent(type, { name: range.name, fromSeq: range.fromSeq, toSeq: range.toSeq, origins })
    return { eventId: event.id, body: eventBody(event), type }
  }

  private deletion(name: string, ifOrphaned: boolean): NewEvent {
    const event = newEvent('document.deleted', { name })
    return { eventId: event.id, body: eventBody(event), type: 'document.deleted', watermark: { name, seq: null }, ifOrphaned }
  }

  private readonly sinksOf = (event: NewEvent): readonly string[] => (!event.type || !this.wanted.has(event.type as EventType) ? [] : this.sinks)

  private async enqueue(events: NewEvent[]): Promise<void> {
    await this.outbox.enqueue(events, this.sinksOf)
    if (this.started) this.dispatcher.wake()
  }

  private track(write: Promise<void>): void {
    const tracked = write.catch((error: unknown) => this.log.error({ err: error }, 'change events could not be recorded'))
    this.writes.add(tracked)
    void tracked.finally(() => this.writes.delete(tracked))
  }
}
