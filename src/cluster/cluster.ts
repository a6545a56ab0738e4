/**
 * Makes this instance one of several serving the same documents (docs/cluster.md).
 *
 * It observes the registry's rooms (room/events.ts) and the bus:
 * - a local update, once durable, is published with its seq; a remote one is applied to the room
 *   if it is loaded here, through the room's RoomFeed, which fills gaps from the store;
 * - local awareness changes are coalesced per room for `awarenessFlushMs` and published; remote
 *   ones are applied, remembered per instance, and removed when that instance says goodbye or
 *   falls silent for `instanceTimeoutMs` (it crashed, or it cannot reach Redis);
 * - a heartbeat every `heartbeatMs` says this instance is alive and carries the last seq it stored
 *   per document since the previous one, so a lost last update is noticed within a heartbeat;
 * - opening a document asks the others for their clients' awareness; deleting one tells them;
 * - an awareness update POSTed here for an event stream this instance does not hold goes to the
 *   document's channel, where the instance holding the stream applies it.
 */
import { encodeAwarenessUpdate } from 'y-protocols/awareness'
import type { DocStore } from '../storage/doc-store.js'
import type { Logger } from '../logger.js'
import type { Room } from '../room/room.js'
import type { RoomRegistry } from '../room/registry.js'
import type { AwarenessChange, RoomObserver, StoredUpdate } from '../room/events.js'
import type { DocMessage, InstanceMessage } from './codec.js'
import type { RedisBus } from './redis-bus.js'
import { RoomFeed, type FeedMetrics } from './room-feed.js'

export interface ClusterTiming {
  heartbeatMs: number
  /** An instance silent this long is gone: its clients' awareness states are removed. */
  instanceTimeoutMs: number
  awarenessFlushMs: number
  /** How long a seq gap may wait for the bus before the store is read. */
  gapGraceMs: number
}

/**
 * Updates larger than this travel as their seq only, and subscribers read them from the store:
 * Redis disconnects a subscriber whose output buffer outgrows its pub/sub limit (32 MiB by
 * default), and a burst of large offline uploads would get there.
 */
export const MAX_CARRIED_UPDATE_BYTES = 256 * 1024

export const DEFAULT_CLUSTER_TIMING: ClusterTiming = { heartbeatMs: 1000, instanceTimeoutMs: 5000, awarenessFlushMs: 20, gapGraceMs: 100 }

export interface ClusterMetrics extends FeedMetrics {
  published(type: string, ok: boolean): void
  received(type: string): void
}

interface LoadedRoom {
  room: Room
  feed: RoomFeed
  /** Awareness ids changed by local peers, not yet published. */
  pendingAwareness: Set<number>
  flush: NodeJS.Timeout | null
  /** Which instance each remote awareness state came from. */
  remoteStates: Map<number, string>
}

export class Cluster implements RoomObserver {
  private readonly rooms = new Map<string, LoadedRoom>()
  /** When each other instance was last heard from. */
  private readonly instances = new Map<string, number>()
  /** Last seq stored here per document since the last heartbeat that went out. */
  private readonly heads = new Map<string, number>()
  private readonly ticker: NodeJS.Timeout
  private closed = false
  /** Applies an awareness update for an event stream, if this instance holds it (set by the SSE transport). */
  private streamAwareness: ((name: string, stream: string, update: Uint8Array) => void) | null = null

  constructor(
    readonly instanceId: string,
    private readonly bus: RedisBus,
    private readonly registry: RoomRegistry,
    private readonly store: DocStore,
    private readonly log: Logger,
    private readonly timing: ClusterTiming,
    private readonly metrics: ClusterMetrics,
  ) {
    bus.start({
      doc: (name, message) => this.onDocMessage(name, message),
      instance: (message) => this.onInstanceMessage(message),
      resubscribed: () => this.onResubscribed(),
    }, instanceId)
    registry.observe(this)
    this.ticker = setInterval(() => void this.tick(), timing.heartbeatMs)
    this.ticker.unref()
    void this.tick()
  }

  roomOpened(room: Room): void {
    const feed = new RoomFeed(room, this.store, this.log, { gapGraceMs: this.timing.gapGraceMs, retryMs: this.timing.heartbeatMs }, this.metrics)
    const entry: LoadedRoom = { room, feed, pendingAwareness: new Set(), flush: null, remoteStates: new Map() }
    this.rooms.set(room.name, entry)
    void this.bus.subscribe(room.name).then((subscribed) => {
      if (!subscribed || this.rooms.get(room.name) !== entry) return
      // Whatever was stored between the load and the subscription arrives through neither.
      void feed.catchUp()
      this.publish(room.name, { type: 'awareness-query', instance: this.instanceId })
    })
  }

  roomClosed(room: Room): void {
    const entry = this.rooms.get(room.name)
    if (entry?.room !== room) return
    // The last client leaving is what closes a room: its removal must still go out.
    this.flushAwareness(entry)
    this.rooms.delete(room.name)
    entry.feed.close()
    this.bus.unsubscribe(room.name)
  }

  updateStored(room: Room, stored: StoredUpdate): void {
    if (stored.origin.kind === 'remote') return
    const entry = this.rooms.get(room.name)
    entry?.feed.stored(stored.seq)
    this.heads.set(room.name, stored.seq)
    this.publish(
      room.name,
      stored.update.byteLength > MAX_CARRIED_UPDATE_BYTES
        ? { type: 'stored', instance: this.instanceId, seq: stored.seq }
        : { type: 'update', instance: this.instanceId, seq: stored.seq, update: stored.update },
    )
  }

  awarenessChanged(room: Room, change: AwarenessChange): void {
    const entry = this.rooms.get(room.name)
    if (entry?.room !== room) return
    const { origin } = change
    if (origin.kind === 'peer') {
      for (const id of change.ids) entry.pendingAwareness.add(id)
      entry.flush ??= setTimeout(() => this.flushAwareness(entry), this.timing.awarenessFlushMs)
      return
    }
    for (const id of change.ids) {
      if (origin.kind === 'remote' && room.awareness.states.has(id)) entry.remoteStates.set(id, origin.instance)
      else entry.remoteStates.delete(id)
    }
  }

  statelessSent(room: Room, payload: string): void {
    if (this.rooms.get(room.name)?.room === room) this.publish(room.name, { type: 'stateless', instance: this.instanceId, payload })
  }

  documentDeleted(name: string): void {
    this.publish(name, { type: 'deleted', instance: this.instanceId })
  }

  /** Sends an awareness update for event stream `stream` of `name` to whichever instance holds it. */
  forwardStreamAwareness(name: string, stream: string, update: Uint8Array): void {
    this.publish(name, { type: 'stream-awareness', instance: this.instanceId, stream, update })
  }

  /** Where awareness updates forwarded by other instances go (see forwardStreamAwareness). */
  onStreamAwareness(apply: (name: string, stream: string, update: Uint8Array) => void): void {
    this.streamAwareness = apply
  }

  /** Publishes what is pending and says goodbye, so others drop this instance's clients at once. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.ticker)
    for (const entry of this.rooms.values()) {
      this.flushAwareness(entry)
      entry.feed.close()
    }
    await this.bus.publishInstance({ type: 'bye', instance: this.instanceId })
    await this.bus.close()
  }

  private onDocMessage(name: string, message: DocMessage): void {
    if (message.instance === this.instanceId) return // our own, back from Redis
    this.metrics.received(message.type)
    this.instances.set(message.instance, Date.now())
    const entry = this.rooms.get(name)
    if (!entry) return
    switch (message.type) {
      case 'update':
        entry.feed.received(message.seq, message.update, message.instance)
        break
      case 'stored':
        entry.feed.headAt(message.seq)
        void entry.feed.catchUp()
        break
      case 'awareness':
        try {
          entry.room.applyRemoteAwareness(message.update, message.instance)
        } catch (error) {
          this.log.warn({ err: error, room: name, instance: message.instance }, 'cluster bus: invalid awareness ignored')
        }
        break
      case 'awareness-query': {
        const states = entry.room.localAwareness()
        if (states) this.publish(name, { type: 'awareness', instance: this.instanceId, update: states })
        break
      }
      case 'deleted':
        this.registry.dropDeleted(name)
        break
      case 'stateless':
        entry.room.applyRemoteStateless(message.payload)
        break
      case 'stream-awareness':
        this.streamAwareness?.(name, message.stream, message.update)
        break
    }
  }

  private onInstanceMessage(message: InstanceMessage): void {
    if (message.instance === this.instanceId) return
    this.metrics.received(message.type)
    if (message.type === 'bye') return this.forgetInstance(message.instance)
    this.instances.set(message.instance, Date.now())
    for (const [name, seq] of message.heads) this.rooms.get(name)?.feed.headAt(seq)
  }

  /** Messages may have been lost while the subscriber was away: catch every room up. */
  private onResubscribed(): void {
    for (const [name, entry] of this.rooms) {
      void entry.feed.catchUp()
      this.publish(name, { type: 'awareness-query', instance: this.instanceId })
    }
  }

  private async tick(): Promise<void> {
    if (this.closed) return
    const now = Date.now()
    for (const [instance, seen] of this.instances) {
      if (now - seen > this.timing.instanceTimeoutMs) this.forgetInstance(instance)
    }
    const heads = [...this.heads]
    const sent = await this.bus.publishInstance({ type: 'heartbeat', instance: this.instanceId, heads })
    this.metrics.published('heartbeat', sent)
    // Kept until a heartbeat carrying them went out (those stored meanwhile stay for the next).
    if (sent) for (const [name, seq] of heads) if (this.heads.get(name) === seq) this.heads.delete(name)
  }

  private forgetInstance(instance: string): void {
    this.instances.delete(instance)
    for (const entry of this.rooms.values()) {
      const ids = [...entry.remoteStates].filter(([, from]) => from === instance).map(([id]) => id)
      if (ids.length > 0) entry.room.removeRemoteAwareness(ids, instance)
      for (const id of ids) entry.remoteStates.delete(id)
    }
  }

  private flushAwareness(entry: LoadedRoom): void {
    if (entry.flush) clearTimeout(entry.flush)
    entry.flush = null
    const { awareness } = entry.room
    // A removed id keeps its clock for a while (presence.ts); one already forgotten has nothing to say.
    const ids = [...entry.pendingAwareness].filter((id) => awareness.meta.has(id))
    entry.pendingAwareness.clear()
    if (ids.length === 0) return
    this.publish(entry.room.name, { type: 'awareness', instance: this.instanceId, update: encodeAwarenessUpdate(awareness, ids) })
  }

  private publish(name: string, message: DocMessage): void {
    void this.bus.publishDoc(name, message).then((ok) => this.metrics.published(message.type, ok))
  }
}
