/**
 * A Room is one loaded document: its Y.Doc, its Awareness and the peers editing it.
 *
 * Durability rule: an update reaches storage before any peer sees it. Every document update is
 * appended to the store; the frame relaying it, and every SyncStep2 answer computed while such an
 * append is in flight, wait in an outbox until the appends issued before them are committed.
 */
import * as Y from 'yjs'
import {
  Awareness,
  applyAwarenessUpdate,
  encodeAwarenessUpdate,
  removeAwarenessStates,
} from 'y-protocols/awareness'
import {
  encodeAwareness,
  encodeSyncStep1,
  encodeSyncStep2,
  encodeUpdate,
  type ClientMessage,
} from '../protocol/messages.js'
import { CloseCode, ProtocolError } from '../protocol/close-codes.js'
import type { AppendResult, DocStore, LoadedDoc } from '../storage/doc-store.js'
import type { Logger, Peer } from './peer.js'
import { DocSizeQuota } from '../limits/doc-size.js'

export interface RoomEvents {
  /** The last peer left. */
  onEmpty(room: Room): void
  /** Storage failed; the room has closed its peers and must be dropped without saving. */
  onFailure(room: Room, error: unknown): void
}

type AwarenessChange = { added: number[]; updated: number[]; removed: number[] }

export class Room {
  readonly doc = new Y.Doc()
  readonly awareness: Awareness
  /** Each peer with the awareness client ids it has announced. */
  private readonly peers = new Map<Peer, Set<number>>()
  private writesIssued = 0
  private writesDone = 0
  private readonly outbox: Array<{ after: number; deliver: () => void }> = []
  private lastAppend: Promise<AppendResult>
  private compaction: Promise<void> | null = null
  /** A compaction was due while one ran; that one does not cover the appends that asked. */
  private compactAgain = false
  /** Full state for clients with an empty state vector; dropped on every change. */
  private fullState: Uint8Array | null = null
  private state: 'open' | 'closing' | 'closed' = 'open'
  /** Running size estimate against the per-document quota (limits/doc-size.ts). */
  private readonly quota: DocSizeQuota

  constructor(
    readonly name: string,
    loaded: LoadedDoc,
    private readonly store: DocStore,
    private readonly events: RoomEvents,
    private readonly log: Logger,
    limits: { maxDocumentBytes?: number } = {},
  ) {
    this.quota = new DocSizeQuota(limits.maxDocumentBytes ?? 0, loaded.updates)
    this.doc.transact(() => {
      for (const update of loaded.updates) Y.applyUpdate(this.doc, update)
    })
    this.lastAppend = Promise.resolve({ seq: loaded.seq, compactionDue: false })
    this.awareness = new Awareness(this.doc)
    this.awareness.setLocalState(null) // the server itself is not a participant
    this.doc.on('update', this.onDocUpdate)
    this.awareness.on('update', this.onAwarenessUpdate)
  }

  get peerCount(): number {
    return this.peers.size
  }

  get isOpen(): boolean {
    return this.state === 'open'
  }

  /** Adds a peer and sends it the server's SyncStep1 and the current awareness states. */
  join(peer: Peer): void {
    if (this.state !== 'open') throw new Error(`room ${this.name} is ${this.state}`)
    this.peers.set(peer, new Set())
    peer.send(encodeSyncStep1(Y.encodeStateVector(this.doc)))
    const states = this.awareness.getStates()
    if (states.size > 0) {
      peer.send(encodeAwareness(encodeAwarenessUpdate(this.awareness, [...states.keys()])))
    }
  }

  /** Removes a peer and the awareness states it controlled; the room empties when it was the last. */
  leave(peer: Peer): void {
    const clientIds = this.peers.get(peer)
    if (!clientIds) return
    this.peers.delete(peer)
    if (clientIds.size > 0 && this.state === 'open') {
      removeAwarenessStates(this.awareness, [...clientIds], null)
    }
    if (this.peers.size === 0 && this.state === 'open') this.events.onEmpty(this)
  }

  /** Handles one decoded message from `peer`. Throws ProtocolError if Yjs rejects its content. */
  receive(peer: Peer, message: ClientMessage): void {
    if (this.state !== 'open' || !this.peers.has(peer)) return
    switch (message.type) {
      case 'sync-step1': {
        const diff = message.isEmpty ? this.encodedFullState() : Y.encodeStateAsUpdate(this.doc, message.stateVector)
        const reply = encodeSyncStep2(diff)
        this.afterWrites(() => peer.send(reply))
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
        try {
          // The resulting update (not the client's bytes) is stored and relayed by onDocUpdate.
          Y.applyUpdate(this.doc, message.update, peer)
        } catch (error) {
          this.log.warn({ err: error, peer: peer.id }, 'update rejected by Yjs')
          throw new ProtocolError(CloseCode.invalidPayload, 'update cannot be applied')
        }
        break
      case 'awareness':
        if (peer.readOnly?.dropAwareness) break
        applyAwarenessUpdate(this.awareness, message.update, peer)
        break
      case 'query-awareness': {
        const states = [...this.awareness.getStates().keys()]
        peer.send(encodeAwareness(encodeAwarenessUpdate(this.awareness, states)))
        break
      }
    }
  }

  /** Resolves once every update applied so far is durable; rejects if storing one failed. */
  durable(): Promise<void> {
    return this.lastAppend.then(() => undefined)
  }

  /**
   * Applies an update made by the server itself (REST): stored and relayed like a client's.
   * The caller has validated it (see content/update.ts). Resolves once it is durable.
   */
  applyServerUpdate(update: Uint8Array): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(`room ${this.name} is ${this.state}`))
    this.quota.check(update.byteLength)
    Y.applyUpdate(this.doc, update, this)
    return this.durable()
  }

  /**
   * Stops serving: closes remaining peers with `closeWith`, waits for pending writes, compacts
   * the log into the stored state (unless `save` is false: the document is being deleted) and
   * frees the document. Never rejects.
   */
  async unload(closeWith?: { code: number; reason: string }, { save = true } = {}): Promise<void> {
    if (this.state !== 'open') return
    this.state = 'closing'
    if (closeWith) for (const peer of this.peers.keys()) peer.close(closeWith.code, closeWith.reason)
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

  private readonly onDocUpdate = (update: Uint8Array): void => {
    this.fullState = null
    this.quota.added(update.byteLength)
    const frame = encodeUpdate(update) // encoded once, the same bytes go to every peer
    const append = this.store.append(this.name, update)
    this.lastAppend = append
    this.writesIssued++
    append.then(
      (result) => {
        this.writesDone++
        this.deliverDurable()
        if (result.compactionDue) this.compactInBackground()
      },
      (error: unknown) => this.fail(error),
    )
    this.afterWrites(() => this.broadcast(frame))
  }

  private readonly onAwarenessUpdate = ({ added, updated, removed }: AwarenessChange, origin: unknown): void => {
    const controlled = this.peers.get(origin as Peer)
    if (controlled) {
      for (const id of added) controlled.add(id)
      for (const id of removed) controlled.delete(id)
    }
    const changed = added.concat(updated, removed)
    this.broadcast(encodeAwareness(encodeAwarenessUpdate(this.awareness, changed)))
  }

  /** Runs `deliver` once every append issued so far is committed. */
  private afterWrites(deliver: () => void): void {
    if (this.outbox.length === 0 && this.writesDone === this.writesIssued) deliver()
    else this.outbox.push({ after: this.writesIssued, deliver })
  }

  private deliverDurable(): void {
    let released = 0
    while (released < this.outbox.length && this.outbox[released]!.after <= this.writesDone) {
      this.outbox[released]!.deliver()
      released++
    }
    this.outbox.splice(0, released)
  }

  private broadcast(frame: Uint8Array): void {
    for (const peer of this.peers.keys()) peer.send(frame)
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
    this.outbox.length = 0
    for (const peer of this.peers.keys()) peer.close(CloseCode.internalError, 'storage error')
    this.peers.clear()
    this.events.onFailure(this, error)
    this.destroy()
  }

  private destroy(): void {
    if (this.doc.isDestroyed) return
    this.state = 'closed'
    this.peers.clear()
    this.outbox.length = 0
    this.awareness.destroy()
    this.doc.destroy()
  }
}
