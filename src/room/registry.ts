/**
 * One Room per document name. Concurrent joins of a cold document share one load; a failed load
 * leaves nothing behind; a room unloads when its last peer leaves, and a join that arrives while
 * it is unloading waits for the unload to finish and then loads the saved state afresh.
 */
import { CloseCode } from '../protocol/close-codes.js'
import type { DocStore } from '../storage/doc-store.js'
import type { Logger, Peer } from './peer.js'
import { Room } from './room.js'

export class RoomRegistry {
  private readonly rooms = new Map<string, Room>()
  private readonly loading = new Map<string, Promise<Room>>()
  private readonly unloading = new Map<string, Promise<void>>()
  private closed = false
  /** Storage loads performed, for tests and metrics. */
  loads = 0

  constructor(
    private readonly store: DocStore,
    private readonly log: Logger,
  ) {}

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

  /**
   * Adds `peer` to the room for `name`, loading it first if needed. Rejects if the load fails
   * or the registry is closing. The caller must `room.leave(peer)` when the peer goes away,
   * including when it went away while this promise was pending.
   */
  async join(name: string, peer: Peer): Promise<Room> {
    for (;;) {
      if (this.closed) throw new Error('server is shutting down')
      // Join synchronously after the lookup, so the room cannot unload in between.
      const room = this.rooms.get(name) ?? (await this.load(name))
      if (room.isOpen) {
        room.join(peer)
        return room
      }
    }
  }

  /** Unloads every room, closing its peers with 1001. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.allSettled(this.loading.values())
    for (const room of this.rooms.values()) {
      this.unload(room, { code: CloseCode.goingAway, reason: 'server shutting down' })
    }
    await Promise.all(this.unloading.values())
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

  private async loadFresh(name: string): Promise<Room> {
    await this.unloading.get(name)
    this.loads++
    const loaded = await this.store.load(name)
    const room = new Room(name, loaded, this.store, {
      onEmpty: (r) => this.unload(r),
      onFailure: (r) => this.forget(r),
    }, this.log)
    this.rooms.set(name, room)
    // If every waiting peer went away during the load, the room must not linger.
    setImmediate(() => {
      if (room.isOpen && room.peerCount === 0) this.unload(room)
    })
    return room
  }

  private unload(room: Room, closeWith?: { code: number; reason: string }): void {
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
    return true
  }
}
