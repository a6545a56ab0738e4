/**
 * A Room is one loaded document: its Y.Doc, its Awareness and the peers editing it.
 *
 * Durability rule: an update reaches storage before any peer sees it. Every document update is
 * appended to the store; the frame relaying it, and every SyncStep2 answer computed while such an
 * append is in flight, wait in an outbox until the appends issued before them are committed.
 */
import * as Y from 'yjs'
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import {
  decodeAwarenessUpdate,
  encodeAwarenessEntries,
  encodeAwareness,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeUpdate,
  type ClientMessage,
} from '../protocol/messages.js'
import { ProtocolError, type CloseErrorCode } from '../protocol/close-codes.js'
import { missingDependency } from '../content/dependencies.js'
import { docFromUpdates } from '../content/update.js'
import type { AppendResult, DocStore, LoadedDoc } from '../storage/doc-store.js'
import type { Logger, Peer } from './peer.js'
import { DocSizeQuota } from '../limits/doc-size.js'
import { DurableOutbox } from './outbox.js'
import { AwarenessBatch } from './awareness-batch.js'
import { Presence, type PresenceLimits, type PresenceMetrics } from './presence.js'
import type { AwarenessChange, StoredUpdate, UpdateOrigin } from './events.js'

export interface RoomMetrics extends PresenceMetrics {
  /** An update a client sent before its SyncStep2 that depends on what only that SyncStep2 carries. */
  earlyUpdateDropped(): void
}

export const noRoomMetrics: RoomMetrics = { awarenessDropped() {}, earlyUpdateDropped() {} }

export interface RoomLimits {
  /** The document size quota (limits/doc-size.ts); 0 or absent = unlimited. */
  maxDocumentBytes?: number
  /** Awareness ids per peer and bytes per state (presence.ts); absent = unlimited. */
  presence?: PresenceLimits
  /** Awareness changes are relayed once per window of this many ms (awareness-batch.ts); default 16, 0 = at once. */
  awarenessWindowMs?: number
}

export interface RoomEvents {
  /** The last peer left. */
  onEmpty(room: Room): void
  /** Storage failed; the room has closed its peers and must be dropped without saving. */
  onFailure(room: Room, error: unknown): void
  /** An update is durable (see events.ts); called in seq order for this room's own appends. */
  onStored(room: Room, stored: StoredUpdate): void
  onAwareness(room: Room, change: AwarenessChange): void
  /** A peer's stateless message, relayed here; other instances relay it to theirs. */
  onStateless?(room: Room, payload: string): void
  /** A peer joined; it left (once per joined peer, also when the room closed under it). */
  onPeerJoined?(room: Room, peer: Peer): void
  onPeerLeft?(room: Room, peer: Peer): void
}

type AwarenessEvent = { added: number[]; updated: number[]; removed: number[] }

/** Transaction origin of changes another instance made (stored there, so not appended here). */
class RemoteChange {
  constructor(readonly origin: Extract<UpdateOrigin, { kind: 'remote' }>) {}
}

/** Transaction origin of awareness states another instance relayed. */
class RemoteAwareness {
  constructor(readonly instance: string) {}
}

/**
 * missingDependency for a client's bytes: malformed framing (truncated, unknown content) is the
 * client's fault. Content it skips (JSON, strings) Yjs reads before integrating anything, so a
 * fault there leaves the document untouched too (the catch in applyClientUpdate). This is the
 * only pass over an update besides Yjs' own: a full Y.decodeUpdate before applying cost ~2 % of
 * the server's CPU in the rooms bench.
 */
function readDependencies(doc: Y.Doc, update: Uint8Array): string | null {
  try {
    return missingDependency(doc, update)
  } catch {
    throw new ProtocolError('QUIRE_INVALID_UPDATE', 'update cannot be decoded')
  }
}

/** Drops whatever Yjs could not integrate; true if there was anything. */
function discardPending(doc: Y.Doc): boolean {
  if (doc.store.pendingStructs === null && doc.store.pendingDs === null) return false
  doc.store.pendingStructs = null
  doc.store.pendingDs = null
  return true
}

export class Room {
  readonly doc: Y.Doc
  readonly awareness: Awareness
  private readonly peers = new Set<Peer>()
  /** Which peer speaks for which awareness client id. */
  private readonly presence: Presence
  private readonly awarenessBatch: AwarenessBatch
  /**
   * Peers with a SyncStep2 answer waiting for durability. A second SyncStep1 meanwhile is not
   * answered: the waiting answer plus the updates relayed after it already bring the client up
   * to date, and thousands of full-state answers must not pile up in the outbox.
   */
  private readonly answering = new Set<Peer>()
  /**
   * Peers whose SyncStep2 has arrived. y-websocket sends live edits as soon as the socket opens,
   * but the offline edits they build on only in its SyncStep2, after the server's SyncStep1: an
   * edit that arrives before that and depends on missing changes is one the SyncStep2 will
   * carry (the client computes it from a document that already holds the edit), so it is
   * dropped, not refused. Once a peer has caught up, such an update is an error.
   */
  private readonly caughtUp = new WeakSet<Peer>()
  private readonly outbox = new DurableOutbox()
  /** Durable updates waiting for this pass's relay (see relay()). */
  private relayDue: Uint8Array[] = []
  private lastAppend: Promise<AppendResult>
  private compaction: Promise<void> | null = null
  /** A compaction was due while one ran; that one does not cover the appends that asked. */
  private compactAgain = false
  /** Full state for clients with an empty state vector; dropped on every change. */
  private fullState: Uint8Array | null = null
  private state: 'open' | 'closing' | 'closed' = 'open'
  /** Running size estimate against the per-document quota (limits/doc-size.ts). */
  private readonly quota: DocSizeQuota

  /** Every update stored with a seq up to this one was in the document when it was loaded. */
  readonly loadedSeq: number

  constructor(
    readonly name: string,
    loaded: LoadedDoc,
    private readonly store: DocStore,
    private readonly events: RoomEvents,
    private readonly log: Logger,
    limits: RoomLimits = {},
    private readonly metrics: RoomMetrics = noRoomMetrics,
  ) {
    // Named, not a random UUID (see docFromUpdates): the guid names subdocuments only, and a server
    // document has none.
    this.doc = docFromUpdates(loaded.updates, name)
    this.quota = new DocSizeQuota(limits.maxDocumentBytes ?? 0, loaded.updates)
    this.loadedSeq = loaded.seq
    this.lastAppend = Promise.resolve({ seq: loaded.seq, compactionDue: false })
    this.awareness = new Awareness(this.doc)
    this.awareness.setLocalState(null) // the server itself is not a participant
    this.presence = new Presence(this.awareness, limits.presence ?? { maxClients: 0, maxStateBytes: 0 }, metrics)
    this.awarenessBatch = new AwarenessBatch(this.awareness, limits.awarenessWindowMs ?? 16, (frame) => this.broadcast(frame))
    this.doc.on('update', this.onDocUpdate)
    this.awareness.on('update', this.onAwarenessUpdate)
  }

  get peerCount(): number {
    return this.peers.size
  }

  /** The peers in the room now (a copy: callers may outlive a join or leave), for the dashboard's who-is-here. */
  peerList(): Peer[] {
    return [...this.peers]
  }

  /** The size quota's running estimate of the document, in bytes (limits/doc-size.ts). */
  get quotaBytes(): number {
    return this.quota.estimate
  }

  /** See Presence.maxEntries. */
  get maxAwarenessEntries(): number {
    return this.presence.maxEntries
  }

  get isOpen(): boolean {
    return this.state === 'open'
  }

  /**
   * Applies an update another instance stored (or one read back from the store): relayed to the
   * peers here, not appended again. False, and nothing applied, when it depends on changes this
   * room does not have yet: the caller fetches what is missing from the store and tries again.
   */
  applyRemoteUpdate(update: Uint8Array, origin: { instance: string | null; seq: number }): boolean {
    if (this.state !== 'open') return true
    if (missingDependency(this.doc, update)) return false
    try {
      Y.applyUpdate(this.doc, update, new RemoteChange({ kind: 'remote', ...origin }))
    } catch (error) {
      // Stored by another instance, so it passed the same checks there: a failure here is a bug.
      this.log.error({ err: error, room: this.name, seq: origin.seq }, 'stored update could not be applied')
    }
    discardPending(this.doc)
    return true
  }

  /**
   * Applies awareness states relayed by another instance. Ids a peer of this room owns are left
   * alone: here the local peer speaks for them (the same client reconnected to this instance
   * before the other one noticed it gone).
   */
  applyRemoteAwareness(update: Uint8Array, instance: string): void {
    if (this.state !== 'open') return
    const entries = decodeAwarenessUpdate(update).filter((e) => !this.presence.isOwned(e.clientId) && e.clientId !== this.awareness.clientID)
    if (entries.length > 0) applyAwarenessUpdate(this.awareness, encodeAwarenessEntries(entries), new RemoteAwareness(instance))
  }

  /** A stateless message a peer of another instance sent: to every peer here. */
  applyRemoteStateless(payload: string): void {
    if (this.state !== 'open') return
    for (const peer of this.peers) peer.stateless?.(payload)
  }

  /** Removes states another instance relayed (it left or went silent); ids owned here stay. */
  removeRemoteAwareness(ids: Iterable<number>, instance: string): void {
    if (this.state !== 'open') return
    const gone = [...ids].filter((id) => !this.presence.isOwned(id) && this.awareness.states.has(id))
    if (gone.length > 0) removeAwarenessStates(this.awareness, gone, new RemoteAwareness(instance))
  }

  /** The states this room's own peers speak for, as an awareness update; null if there are none. */
  localAwareness(): Uint8Array | null {
    const ids = this.presence.ownedIds().filter((id) => this.awareness.states.has(id))
    return ids.length > 0 ? encodeAwarenessUpdate(this.awareness, ids) : null
  }

  /** Adds a peer and sends it the server's SyncStep1 and the current awareness states. */
  join(peer: Peer): void {
    if (this.state !== 'open') throw new Error(`room ${this.name} is ${this.state}`)
    this.peers.add(peer)
    this.events.onPeerJoined?.(this, peer)
    peer.send(encodeSyncStep1(Y.encodeStateVector(this.doc)))
    const states = this.awareness.getStates()
    if (states.size > 0) {
      peer.send(encodeAwareness(encodeAwarenessUpdate(this.awareness, [...states.keys()])))
    }
  }

  /** Removes a peer and the awareness states it controlled; the room empties when it was the last. */
  leave(peer: Peer): void {
    if (!this.peers.delete(peer)) return
    this.events.onPeerLeft?.(this, peer)
    this.answering.delete(peer)
    if (this.state === 'open') this.presence.leave(peer)
    if (this.peers.size === 0 && this.state === 'open') this.events.onEmpty(this)
  }

  /** Handles one decoded message from `peer`. Throws ProtocolError if Yjs rejects its content. */
  receive(peer: Peer, message: ClientMessage): void {
    if (this.state !== 'open' || !this.peers.has(peer)) return
    switch (message.type) {
      case 'sync-step1': {
        if (this.answering.has(peer)) break
        const diff = message.isEmpty ? this.encodedFullState() : Y.encodeStateAsUpdate(this.doc, message.stateVector)
        const reply = encodeSyncStep2(diff)
        this.answering.add(peer)
        this.outbox.afterWrites(() => {
          this.answering.delete(peer)
          peer.send(reply)
        })
        break
      }
      case 'sync-step2':
      case 'update':
        // Read-only: neither applied, stored nor relayed (SyncStep1 above is still answered).
        if (peer.readOnly) {
          peer.readOnly.dropped()
          break
        }
        this.quota.check(message.update.byteLength) // before applying: a refused update leaves no trace
        this.applyClientUpdate(peer, message.update, message.type === 'sync-step2')
        break
      case 'awareness':
        if (peer.readOnly?.dropAwareness) break
        this.presence.apply(peer, message.entries, message.update)
        break
      case 'query-awareness': {
        const states = [...this.awareness.getStates().keys()]
        peer.send(encodeAwareness(encodeAwarenessUpdate(this.awareness, states)))
        break
      }
      case 'stateless':
        // A read-only peer that may not show presence may not broadcast either.
        if (peer.readOnly?.dropAwareness) break
        for (const other of this.peers) if (other !== peer) other.stateless?.(message.payload)
        this.events.onStateless?.(this, message.payload)
        break
    }
  }

  /**
   * Applies a client's update; the resulting update (not the client's bytes) is stored and
   * relayed by onDocUpdate. The document never keeps content Yjs holds back for missing
   * dependencies: it would be served (SyncStep2, exports) without being stored.
   */
  private applyClientUpdate(peer: Peer, update: Uint8Array, isSyncStep2: boolean): void {
    const missing = readDependencies(this.doc, update)
    if (missing && !isSyncStep2 && !this.caughtUp.has(peer)) return this.metrics.earlyUpdateDropped()
    if (missing) throw new ProtocolError('QUIRE_MISSING_DEPENDENCIES', missing)
    if (isSyncStep2) this.caughtUp.add(peer)
    try {
      Y.applyUpdate(this.doc, update, peer)
    } catch (error) {
      this.log.warn({ err: error, peer: peer.id }, 'update rejected by Yjs')
      discardPending(this.doc)
      throw new ProtocolError('QUIRE_INVALID_UPDATE', 'update cannot be applied')
    }
    // What the check above cannot see (dependency cycles between clients) Yjs would keep pending.
    if (discardPending(this.doc)) throw new ProtocolError('QUIRE_MISSING_DEPENDENCIES', 'update depends on changes the server does not have')
  }

  /** Resolves once every update applied so far is durable; rejects if storing one failed. */
  durable(): Promise<void> {
    return this.lastAppend.then(() => undefined)
  }

  /**
   * Like durable(), with the seq of the last update this room appended before the call (its
   * loaded seq if none): every update this room stored up to that seq is in the document now.
   */
  durableSeq(): Promise<number> {
    return this.lastAppend.then(({ seq }) => seq)
  }

  /**
   * Applies an update made by the server itself (REST): stored and relayed like a client's.
   * The caller has validated it (see content/update.ts). Resolves once it is durable.
   */
  applyServerUpdate(update: Uint8Array): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(`room ${this.name} is ${this.state}`))
    this.quota.check(update.byteLength)
    Y.applyUpdate(this.doc, update, this)
    // The caller checked dependencies; should Yjs still hold something back, it must not stay.
    if (discardPending(this.doc)) this.log.warn({ room: this.name }, 'server update left pending content; discarded')
    return this.durable()
  }

  /**
   * Stops serving: closes remaining peers with `closeWith`, waits for pending writes, compacts
   * the log into the stored state (unless `save` is false: the document is being deleted) and
   * frees the document. Never rejects.
   */
  async unload(closeWith?: { code: CloseErrorCode; reason: string }, { save = true } = {}): Promise<void> {
    if (this.state !== 'open') return
    this.state = 'closing'
    if (closeWith) for (const peer of this.peers) peer.close(closeWith.code, closeWith.reason)
    try {
      const { seq } = await this.lastAppend
      await this.compaction
      if (save) await this.store.compact(this.name, { state: Y.encodeStateAsUpdate(this.doc), seq })
    } catch (error) {
      this.log.error({ err: error, room: this.name }, 'compaction on unload failed; the log is kept')
    } finally {
      this.destroy()
    }
  }

  private readonly onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    this.fullState = null
    this.quota.added(update.byteLength)
    if (origin instanceof RemoteChange) {
      // Already durable. Behind the local appends in flight all the same: peers see one order.
      this.outbox.afterWrites(() => this.relay(update))
      this.events.onStored(this, { seq: origin.origin.seq, update, origin: origin.origin })
      return
    }
    const from: UpdateOrigin = origin === this ? { kind: 'server' } : { kind: 'peer', peer: origin as Peer }
    const append = this.store.append(this.name, update)
    this.lastAppend = append
    this.outbox.writeIssued()
    append.then(
      (result) => {
        this.outbox.writeCommitted()
        if (this.state !== 'closed') this.events.onStored(this, { seq: result.seq, update, origin: from })
        if (result.compactionDue) this.compactInBackground()
      },
      (error: unknown) => this.fail(error),
    )
    this.outbox.afterWrites(() => this.relay(update))
  }

  /**
   * Relays a durable update. Those released in one pass of the event loop (one group commit holds
   * several under load) go out merged, one frame per peer: fewer frames and socket writes, the
   * same latency, since the check phase follows the I/O phase their commit completed in.
   */
  private relay(update: Uint8Array): void {
    this.relayDue.push(update)
    if (this.relayDue.length > 1) return
    setImmediate(() => {
      const updates = this.relayDue
      this.relayDue = []
      if (this.doc.isDestroyed) return
      // Encoded once, the same bytes go to every peer.
      this.broadcast(encodeUpdate(updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates)))
    })
  }

  private readonly onAwarenessUpdate = ({ added, updated, removed }: AwarenessEvent, origin: unknown): void => {
    const changed = added.concat(updated, removed)
    this.awarenessBatch.add(changed)
    this.events.onAwareness(this, {
      ids: changed,
      origin:
        origin instanceof RemoteAwareness
          ? { kind: 'remote', instance: origin.instance }
          : typeof origin === 'object' && origin !== null // a Peer (presence.ts applies on its behalf)
            ? { kind: 'peer', peer: origin as Peer }
            : { kind: 'expired' }, // y-protocols' own timeout, origin 'timeout'
    })
  }

  private broadcast(frame: Uint8Array): void {
    for (const peer of this.peers) peer.send(frame)
  }

  private encodedFullState(): Uint8Array {
    this.fullState ??= Y.encodeStateAsUpdate(this.doc)
    return this.fullState
  }

  private compactInBackground(): void {
    if (this.state !== 'open') return
    if (this.compaction) {
      this.compactAgain = true
      return
    }
    const state = this.encodedFullState()
    this.quota.encoded(state.byteLength)
    this.compaction = this.lastAppend
      .then(({ seq }) => this.store.compact(this.name, { state, seq }))
      .catch((error: unknown) => this.log.error({ err: error, room: this.name }, 'compaction failed; the log is kept'))
      .finally(() => {
        this.compaction = null
        if (this.compactAgain) {
          this.compactAgain = false
          this.compactInBackground()
        }
      })
  }

  private fail(error: unknown): void {
    if (this.state === 'closed') return
    this.log.error({ err: error, room: this.name }, 'storage write failed; closing the document')
    this.state = 'closed'
    this.outbox.clear()
    for (const peer of this.peers) peer.close('QUIRE_STORAGE_FAILED', 'storage error')
    this.dropPeers()
    this.events.onFailure(this, error)
    this.destroy()
  }

  /** Forgets the peers still here (their own leave() comes too late to find them) and says so. */
  private dropPeers(): void {
    for (const peer of this.peers) this.events.onPeerLeft?.(this, peer)
    this.peers.clear()
  }

  private destroy(): void {
    if (this.doc.isDestroyed) return
    this.state = 'closed'
    this.dropPeers()
    this.answering.clear()
    this.outbox.clear()
    this.awarenessBatch.clear()
    this.awareness.destroy()
    this.doc.destroy()
  }
}
