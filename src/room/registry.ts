/**
 * One Room per document name. Concurrent joins of a cold document share one load; a failed load
 * leaves nothing behind; a room unloads when its last peer leaves, and a join that arrives while
 * it is unloading waits for the unload to finish and then loads the saved state afresh.
 *
 * For the REST API it also reads documents without loading them, holds a room for a server-side
 * edit, and deletes documents; each waits for the loads and unloads of the same name, so storage
 * is never read half-compacted or written after a delete.
 */
import * as Y from 'yjs'
import { docFromUpdates } from '../content/update.js'
import type { DocStore } from '../storage/doc-store.js'
import type { CloseErrorCode } from '../protocol/close-codes.js'
import type { Logger, Peer } from './peer.js'
import { Room, type RoomEvents, type RoomLimits, type RoomMetrics } from './room.js'
import type { RoomObserver, VersionChange } from './events.js'
import { LimitError } from '../limits/limits.js'

export class ShuttingDownError extends Error {
  override name = 'ShuttingDownError'
  constructor() {
    super('server is shutting down')
  }
}

export class RoomRegistry {
  private readonly rooms = new Map<string, Room>()
  private readonly loading = new Map<string, Promise<Room>>()
  /** Unloads and deletes in progress; loads of the same name wait for them. */
  private readonly unloading = new Map<string, Promise<void>>()
  /** Storage reads of unloaded documents in progress; loads of the same name wait for them. */
  private readonly reading = new Map<string, Promise<unknown>>()
  /** Server-side holds per room: peers, but not connections. */
  private readonly holds = new WeakMap<Room, number>()
  /** The peers standing for those holds, so that `clients()` can leave them out. */
  private readonly holdPeers = new WeakSet<Peer>()
  private closed = false
  private readonly observers: RoomObserver[] = []
  /** Storage loads performed, for tests and metrics. */
  loads = 0
  /** What every room reports, passed on to the observers. */
  private readonly roomEvents: RoomEvents = {
    onEmpty: (room) => this.unload(room),
    onFailure: (room) => this.forget(room),
    onStored: (room, stored) => {
      for (const o of this.observers) o.updateStored?.(room, stored)
    },
    onAwareness: (room, change) => {
      for (const o of this.observers) o.awarenessChanged?.(room, change)
    },
    onStateless: (room, payload) => {
      for (const o of this.observers) o.statelessSent?.(room, payload)
    },
    onPeerJoined: (room, peer) => {
      if (!this.holdPeers.has(peer)) for (const o of this.observers) o.peerJoined?.(room, peer)
    },
    onPeerLeft: (room, peer) => {
      if (!this.holdPeers.has(peer)) for (const o of this.observers) o.peerLeft?.(room, peer)
    },
  }

  constructor(
    private readonly store: DocStore,
    private readonly log: Logger,
    /** 0 (default) = unlimited. */
    private readonly limits: RoomLimits & { maxRooms?: number } = {},
    private readonly metrics?: RoomMetrics,
  ) {}

  /** Adds an observer of every room's events (events.ts), for rooms loaded from now on and those loaded already. */
  observe(observer: RoomObserver): void {
    this.observers.push(observer)
    for (const room of this.rooms.values()) observer.roomOpened?.(room)
  }

  /** Tells the observers a version was saved; resolves once they have recorded it (see RoomObserver). */
  async versionCreated(change: VersionChange): Promise<void> {
    await Promise.all(this.observers.map(async (o) => o.versionCreated?.(change)))
  }

  /** Tells the observers a document was restored to a version; as versionCreated. */
  async versionRestored(change: VersionChange): Promise<void> {
    await Promise.all(this.observers.map(async (o) => o.versionRestored?.(change)))
  }

  /** Number of rooms currently in memory. */
  get size(): number {
    return this.rooms.size
  }

  get(name: string): Room | undefined {
    return this.rooms.get(name)
  }

  names(): string[] {
    return [...this.rooms.keys()]
  }

  /** Client connections to a loaded document, not counting server-side holds. */
  connections(name: string): number {
    const room = this.rooms.get(name)
    return room ? room.peerCount - (this.holds.get(room) ?? 0) : 0
  }

  /** The client peers of a loaded document (who is connected), without server-side holds; empty if not loaded. */
  clients(name: string): Peer[] {
    const room = this.rooms.get(name)
    return room ? room.peerList().filter((peer) => !this.holdPeers.has(peer)) : []
  }

  /**
   * Adds `peer` to the room for `name`, loading it first if needed. Rejects if the load fails
   * or the registry is closing. The caller must `room.leave(peer)` when the peer goes away,
   * including when it went away while this promise was pending.
   */
  async join(name: string, peer: Peer): Promise<Room> {
    for (;;) {
      if (this.closed) throw new ShuttingDownError()
      // Join synchronously after the lookup, so the room cannot unload in between.
      const room = this.rooms.get(name) ?? (this.checkRoomLimit(name), await this.load(name))
      if (room.isOpen) {
        room.join(peer)
        return room
      }
    }
  }

  /**
   * Runs `use` on the document's current content without keeping it loaded: the room's Y.Doc if
   * it is loaded (resolving once all `use` saw is durable), else a scratch Y.Doc read from
   * storage and destroyed afterwards. Undefined if the document is neither loaded nor stored.
   */
  async read<T>(name: string, use: (doc: Y.Doc) => T): Promise<T | undefined> {
    for (let busy = this.busy(name); busy; busy = this.busy(name)) await busy.catch(() => {})
    if (this.closed) throw new ShuttingDownError()
    const room = this.rooms.get(name)
    if (room) {
      const result = use(room.doc)
      await room.durable()
      return result
    }
    // Loads wait for this read: a loaded room may compact, and the store reads base and log in two steps.
    const stored = this.store.load(name)
    const all = Promise.allSettled([this.reading.get(name), stored])
    this.reading.set(name, all)
    void all.then(() => this.reading.get(name) === all && this.reading.delete(name))
    const { updates, seq } = await stored
    this.store.release(name) // nothing of this document stays cached
    if (seq === 0) return undefined
    const doc = docFromUpdates(updates, name)
    try {
      return use(doc)
    } finally {
      doc.destroy()
    }
  }

  /**
   * Keeps the document loaded without a connection, for a server-side edit: its updates are
   * stored and relayed like a client's. After `release()` the room unloads as when its last
   * client leaves.
   */
  async hold(name: string): Promise<{ room: Room; release(): void }> {
    const peer: Peer = { id: 'server', send: () => {}, close: () => {} }
    this.holdPeers.add(peer)
    const room = await this.join(name, peer)
    this.holds.set(room, (this.holds.get(room) ?? 0) + 1)
    let held = true
    const release = () => {
      if (!held) return
      held = false
      this.holds.set(room, (this.holds.get(room) ?? 1) - 1)
      room.leave(peer)
    }
    return { room, release }
  }

  /**
   * Deletes a document: closes its connections with 4404, drops its room without saving, then
   * removes its storage. Joins and reads that arrive meanwhile wait and then find no document.
   * False if the document was neither loaded nor stored.
   */
  async delete(name: string): Promise<boolean> {
    for (let load = this.loading.get(name); load; load = this.loading.get(name)) await load.catch(() => {})
    if (this.closed) throw new ShuttingDownError()
    const room = this.rooms.get(name)
    if (room) this.forget(room)
    const closing = room?.unload({ code: 'QUIRE_DOCUMENT_DELETED', reason: 'document deleted' }, { save: false })
    const previous = [this.unloading.get(name), this.reading.get(name), closing].filter((p) => p !== undefined)
    const deleted = Promise.allSettled(previous).then(() => this.store.delete(name))
    const done = deleted.then(
      () => this.store.release(name),
      () => {},
    )
    this.unloading.set(name, done)
    void done.then(() => this.unloading.get(name) === done && this.unloading.delete(name))
    const existed = (await deleted) || room !== undefined
    if (existed) for (const o of this.observers) o.documentDeleted?.(name)
    return existed
  }

  /**
   * Another instance deleted the document: close its connections here with 4404 and drop the
   * room without saving (the storage is gone already, and saving would bring it back).
   */
  dropDeleted(name: string): void {
    const room = this.rooms.get(name)
    if (!room || !this.forget(room)) return
    const done = room.unload({ code: 'QUIRE_DOCUMENT_DELETED', reason: 'document deleted' }, { save: false }).finally(() => {
      this.store.release(name)
      if (this.unloading.get(name) === done) this.unloading.delete(name)
    })
    this.unloading.set(name, done)
  }

  /** Unloads every room, closing its peers with 1001. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.allSettled(this.loading.values())
    for (const room of this.rooms.values()) {
      this.unload(room, { code: 'QUIRE_SHUTTING_DOWN', reason: 'server shutting down' })
    }
    await Promise.all(this.unloading.values())
  }

  /** Refuses to load one more room past `maxRooms` (a load already under way is shared, not counted twice). */
  private checkRoomLimit(name: string): void {
    const max = this.limits.maxRooms ?? 0
    if (max > 0 && !this.loading.has(name) && this.rooms.size + this.loading.size >= max) {
      throw new LimitError('rooms', 'QUIRE_TOO_MANY_ROOMS', 'too many documents open, try again later')
    }
  }

  private load(name: string): Promise<Room> {
    let pending = this.loading.get(name)
    if (!pending) {
      pending = this.loadFresh(name)
      this.loading.set(name, pending)
      const done = () => this.loading.delete(name)
      pending.then(done, done)
    }
    return pending
  }

  private busy(name: string): Promise<unknown> | undefined {
    return this.loading.get(name) ?? this.unloading.get(name)
  }

  private async loadFresh(name: string): Promise<Room> {
    await this.unloading.get(name)
    await this.reading.get(name)
    this.loads++
    const loaded = await this.store.load(name)
    const room = new Room(name, loaded, this.store, this.roomEvents, this.log, this.limits, this.metrics)
    this.rooms.set(name, room)
    for (const o of this.observers) o.roomOpened?.(room)
    // If every waiting peer went away during the load, the room must not linger.
    setImmediate(() => {
      if (room.isOpen && room.peerCount === 0) this.unload(room)
    })
    return room
  }

  private unload(room: Room, closeWith?: { code: CloseErrorCode; reason: string }): void {
    if (!this.forget(room)) return
    const done = room.unload(closeWith).finally(() => {
      this.store.release(room.name)
      if (this.unloading.get(room.name) === done) this.unloading.delete(room.name)
    })
    this.unloading.set(room.name, done)
  }

  private forget(room: Room): boolean {
    if (this.rooms.get(room.name) !== room) return false
    this.rooms.delete(room.name)
    for (const o of this.observers) o.roomClosed?.(room)
    return true
  }
}
