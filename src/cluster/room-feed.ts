/**
 * Keeps one loaded room complete while other instances write to the same document.
 *
 * The store gives every update of a document a seq, whichever instance stored it, contiguous and
 * committed in order. A room is complete up to `applied` when every seq up to it is in its
 * Y.Doc: those it loaded, its own appends, and those received from other instances. Any seq heard
 * of above that — an update received out of order, a head announced in a heartbeat, our own
 * append still in flight — is a gap. A gap that the bus does not fill within a short grace (the
 * usual cause is two publishers' messages crossing, or our own append not yet acknowledged) is
 * filled from the store with `readSince`, or a full load when compaction folded the range away.
 *
 * A remote update whose dependencies the room lacks is not applied (rooms never hold pending
 * content): it waits here until the gap below it is filled, then is applied in turn.
 */
import * as Y from 'yjs'
import type { DocStore } from '../storage/doc-store.js'
import type { Logger } from '../logger.js'
import type { Room } from '../room/room.js'

export interface FeedOptions {
  /** How long a gap may stay open before the store is asked. */
  gapGraceMs: number
  /** Wait between attempts when reading the store fails. */
  retryMs: number
}

export interface FeedMetrics {
  /** A gap was filled from the store; `full` when it took a whole load. */
  caughtUp(full: boolean): void
}

export class RoomFeed {
  /** Every seq up to this one is in the room. */
  private applied: number
  /** Seqs above `applied` already in the room. */
  private readonly present = new Set<number>()
  /** The highest seq this instance has heard of for the document. */
  private head: number
  /** Remote updates waiting for the updates they depend on. */
  private readonly held = new Map<number, { update: Uint8Array; instance: string }>()
  private timer: NodeJS.Timeout | null = null
  private catching: Promise<void> | null = null
  private closed = false

  constructor(
    private readonly room: Room,
    private readonly store: DocStore,
    private readonly log: Logger,
    private readonly options: FeedOptions,
    private readonly metrics: FeedMetrics,
  ) {
    this.applied = this.head = room.loadedSeq
  }

  /** Every seq up to this one is in the room (for tests and logs). */
  get complete(): number {
    return this.applied
  }

  /** This room stored `seq` itself. */
  stored(seq: number): void {
    this.mark(seq)
    this.checkGap()
  }

  /** Another instance stored `update` under `seq`. */
  received(seq: number, update: Uint8Array, instance: string): void {
    if (this.closed || seq <= this.applied || this.present.has(seq)) return // already here
    if (seq > this.head) this.head = seq
    if (this.room.applyRemoteUpdate(update, { instance, seq })) this.mark(seq)
    else this.held.set(seq, { update, instance })
    this.applyHeld()
    this.checkGap()
  }

  /** Some instance has stored up to `seq`. */
  headAt(seq: number): void {
    if (seq > this.head) this.head = seq
    this.checkGap()
  }

  /** Reads whatever the store has beyond `applied`, as when messages may have been lost. */
  catchUp(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.catching ??= this.readStore()
      .catch((error: unknown) => {
        this.log.warn({ err: error, room: this.room.name }, 'catching up from the store failed; retrying')
        this.schedule(this.options.retryMs, true)
      })
      .finally(() => {
        this.catching = null
        this.checkGap()
      })
    return this.catching
  }

  close(): void {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.held.clear()
  }

  private mark(seq: number): void {
    if (seq > this.head) this.head = seq
    if (seq <= this.applied) return
    this.present.add(seq)
    while (this.present.delete(this.applied + 1)) this.applied++
  }

  private applyHeld(): void {
    for (let progress = true; progress && this.held.size > 0; ) {
      progress = false
      for (const [seq, { update, instance }] of this.held) {
        if (seq <= this.applied || this.present.has(seq)) this.held.delete(seq)
        else if (this.room.applyRemoteUpdate(update, { instance, seq })) {
          this.held.delete(seq)
          this.mark(seq)
          progress = true
        }
      }
    }
  }

  private checkGap(): void {
    if (this.closed || this.catching) return
    if (this.head <= this.applied) {
      if (this.timer) clearTimeout(this.timer)
      this.timer = null
      return
    }
    this.schedule(this.options.gapGraceMs, false)
  }

  private schedule(ms: number, force: boolean): void {
    if (this.closed || (this.timer && !force)) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      if (this.head > this.applied) void this.catchUp()
    }, ms)
    this.timer.unref()
  }

  private async readStore(): Promise<void> {
    const from = this.applied
    const entries = await this.store.readSince(this.room.name, from)
    if (this.closed || !this.room.isOpen) return
    if (entries) {
      let filled = 0
      for (const { seq, update } of entries) {
        if (seq <= this.applied || this.present.has(seq)) continue
        // In seq order from a gap-free run: its dependencies are below it, so this only fails
        // if the room lost track; the full load below repairs that.
        if (!this.room.applyRemoteUpdate(update, { instance: null, seq })) return this.loadAll()
        this.mark(seq)
        filled++
      }
      // Counted only when the store had something the bus did not bring (not for routine checks).
      if (filled > 0) this.metrics.caughtUp(false)
    } else {
      await this.loadAll()
    }
    this.applyHeld()
  }

  /** Applies the whole stored document: what the room has already is merged away by Yjs. */
  private async loadAll(): Promise<void> {
    const { updates, seq } = await this.store.load(this.room.name)
    if (this.closed || !this.room.isOpen) return
    if (updates.length > 0) this.room.applyRemoteUpdate(Y.mergeUpdates(updates), { instance: null, seq })
    for (const s of this.present) if (s <= seq) this.present.delete(s)
    if (seq > this.applied) this.applied = seq
    while (this.present.delete(this.applied + 1)) this.applied++
    this.metrics.caughtUp(true)
  }
}
