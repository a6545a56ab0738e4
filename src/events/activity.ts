/**
 * Change events that are not document content (docs/events.md): `version.created`,
 * `version.restored`, and — only when asked for — `connection.opened` and `connection.closed`.
 *
 * Unlike document events they need no debounce and no watermark: each is one event, added to the
 * outbox when it happens. Version events are awaited by the route that reported them (see
 * RoomObserver.versionCreated), so a client that got its answer knows the event will be
 * delivered; what remains is the moment between the version's commit and the event's, docs/events.md.
 * Connection events are recorded without holding anything up: a connection does not wait for them.
 */
import type { EventOutbox } from '../storage/event-outbox.js'
import type { Logger } from '../logger.js'
import type { Peer } from '../room/peer.js'
import type { Room } from '../room/room.js'
import type { RoomObserver, VersionChange } from '../room/events.js'
import { eventBody, newEvent, type EventData, type EventType } from './change-events.js'
import type { Dispatcher } from './dispatcher.js'

export class ActivityNotifier implements RoomObserver {
  private readonly writes = new Set<Promise<void>>()
  /** When each reported peer joined (performance.now()), for connection.closed's duration. */
  private readonly joined = new WeakMap<Peer, number>()

  constructor(
    private readonly outbox: EventOutbox,
    private readonly sinks: readonly string[],
    private readonly wanted: ReadonlySet<EventType>,
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
  ) {}

  versionCreated(change: VersionChange): Promise<void> {
    return this.record('version.created', versionData(change))
  }

  versionRestored(change: VersionChange): Promise<void> {
    return this.record('version.restored', versionData(change))
  }

  peerJoined(room: Room, peer: Peer): void {
    if (!this.wanted.has('connection.opened') && !this.wanted.has('connection.closed')) return
    this.joined.set(peer, performance.now())
    void this.record('connection.opened', connectionData(room, peer))
  }

  peerLeft(room: Room, peer: Peer): void {
    const since = this.joined.get(peer)
    // A peer that joined before events started (or while they were off) has no opened event: no closed one either.
    if (since === undefined) return
    this.joined.delete(peer)
    const data: EventData = { ...connectionData(room, peer), durationMs: Math.round(performance.now() - since) }
    if (peer.closeCode !== undefined) data.closeCode = peer.closeCode
    void this.record('connection.closed', data)
  }

  /** Waits for the writes under way (shutdown: connections closed by it are recorded first). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.writes])
  }

  /** Adds the event to the outbox if it is wanted; never rejects (a failure is logged). */
  private record(type: EventType, data: EventData): Promise<void> {
    if (!this.wanted.has(type) || this.sinks.length === 0) return Promise.resolve()
    const event = newEvent(type, data)
    const write = this.outbox
      .enqueue([{ eventId: event.id, body: eventBody(event), type }], () => this.sinks)
      .then(() => this.dispatcher.wake())
      .catch((error: unknown) => this.log.error({ err: error, type, name: data.name }, 'change event could not be recorded'))
    this.writes.add(write)
    void write.finally(() => this.writes.delete(write))
    return write
  }
}

function versionData({ name, version, seq, subject }: VersionChange): EventData {
  return { name, version: { id: version.id, label: version.label }, ...(seq !== undefined && { seq }), ...(subject !== undefined && { subject }) }
}

function connectionData(room: Room, peer: Peer): EventData {
  return { name: room.name, connection: peer.id, ...(peer.transport && { transport: peer.transport }), ...(peer.subject !== undefined && { subject: peer.subject }) }
}
