/**
 * Who may speak for which awareness client id. y-protocols lets any peer set or remove any
 * client's state; a server relaying that lets one user forge another's name and cursor, or make
 * them vanish. Here an id belongs to the peer that first announced it, for as long as that peer
 * is connected:
 *
 * - entries for an id another live peer owns are dropped. Most are harmless echoes (y-websocket
 *   clients send every change they receive back to the server, at the clock the server already
 *   has); one with a newer clock is a forgery, or the same client reconnected before its old
 *   socket was noticed dead. The latest such entry is kept aside as the id's heir;
 * - the server's own id is never accepted from a client;
 * - removing (null) an id nobody owns is dropped: y-protocols would remember its clock forever
 *   without emitting anything, an unbounded leak one frame at a time;
 * - a peer may own at most `maxClients` ids and send states of at most `maxStateBytes`;
 * - when an owner leaves, each of its ids passes to its heir with the heir's last state (so a
 *   reconnected client's presence never blinks out), or is removed. A removed id's clock is kept
 *   for a grace period, so late echoes of its old state cannot resurrect it, then forgotten.
 */
import { applyAwarenessUpdate, removeAwarenessStates, type Awareness } from 'y-protocols/awareness'
import { ProtocolError } from '../protocol/close-codes.js'
import { encodeAwarenessEntries, type AwarenessEntry } from '../protocol/messages.js'
import type { Peer } from './peer.js'

export interface PresenceLimits {
  /** Ids one peer may own; 0 = unlimited. */
  maxClients: number
  /** UTF-8 bytes of one state's JSON; 0 = unlimited. */
  maxStateBytes: number
}

/** Why an entry was dropped: the label set of `quire_awareness_dropped_total`. */
export const PRESENCE_DROPS = ['echo', 'foreign', 'server-id', 'unknown-removal'] as const
export type PresenceDrop = (typeof PRESENCE_DROPS)[number]

export interface PresenceMetrics {
  awarenessDropped(reason: PresenceDrop, count: number): void
}

export const noPresenceMetrics: PresenceMetrics = { awarenessDropped() {} }

/** How long a departed id's clock is remembered: y-protocols' own timeout for a silent client. */
const DEPARTED_GRACE_MS = 30_000

export class Presence {
  private readonly owners = new Map<number, Peer>()
  private readonly owned = new Map<Peer, Set<number>>()
  /** The latest newer-clock entry a non-owner sent for an owned id: its heir. */
  private readonly heirs = new Map<number, { peer: Peer; entry: AwarenessEntry }>()
  /** Removed ids whose clocks are still remembered, oldest first, with when to forget them. */
  private readonly departed = new Map<number, number>()

  constructor(
    private readonly awareness: Awareness,
    private readonly limits: PresenceLimits,
    private readonly metrics: PresenceMetrics = noPresenceMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Applies the entries of `peer`'s awareness update that it may speak for. Throws ProtocolError,
   * before changing anything, if the update breaks a limit. `update` is the entries' encoding,
   * applied as is when nothing was dropped.
   */
  apply(peer: Peer, entries: readonly AwarenessEntry[], update: Uint8Array): void {
    this.forgetDeparted()
    const verdicts = entries.map((entry) => this.verdict(peer, entry))
    const claims = new Set(entries.filter((_, i) => verdicts[i] === 'claim').map((e) => e.clientId))
    if (claims.size > 0 && !this.mayClaim(peer, claims.size)) {
      throw new ProtocolError('QUIRE_AWARENESS_CLIENTS', `more than ${this.limits.maxClients} awareness client ids on one connection`)
    }
    const kept: AwarenessEntry[] = []
    const drops = new Map<PresenceDrop, number>()
    entries.forEach((entry, i) => {
      const verdict = verdicts[i]!
      if (verdict === 'keep' || verdict === 'claim') {
        if (verdict === 'claim') this.claim(peer, entry.clientId)
        kept.push(entry)
        return
      }
      if (verdict === 'foreign') this.heirs.set(entry.clientId, { peer, entry })
      drops.set(verdict, (drops.get(verdict) ?? 0) + 1)
    })
    for (const [reason, count] of drops) this.metrics.awarenessDropped(reason, count)
    if (kept.length === 0) return
    applyAwarenessUpdate(this.awareness, kept.length === entries.length ? update : encodeAwarenessEntries(kept), peer)
  }

  /**
   * The most entries one awareness update from a peer may hold: a client echoes at most every
   * state the room has (twice the current count leaves room for states that left while its echo
   * was on the way) and announces at most its own ids. Checked before decoding the entries, so a
   * frame of a million fake ones costs nothing.
   */
  get maxEntries(): number {
    const own = this.limits.maxClients > 0 ? this.limits.maxClients : 1024
    return 2 * this.awareness.states.size + own + 64
  }

  /** True while a peer of this room speaks for `id`. */
  isOwned(id: number): boolean {
    return this.owners.has(id)
  }

  /** Every id a peer of this room speaks for. */
  ownedIds(): number[] {
    return [...this.owners.keys()]
  }

  /** Ids `peer` owns. */
  idsOf(peer: Peer): number[] {
    return [...(this.owned.get(peer) ?? [])]
  }

  /** Forgets `peer`: its ids pass to their heirs or are removed (the removal is broadcast). */
  leave(peer: Peer): void {
    this.forgetDeparted()
    for (const [id, heir] of this.heirs) if (heir.peer === peer) this.heirs.delete(id)
    const ids = this.owned.get(peer)
    if (!ids) return
    this.owned.delete(peer)
    const removed: number[] = []
    for (const id of ids) {
      this.owners.delete(id)
      const heir = this.heirs.get(id)
      this.heirs.delete(id)
      // An heir at its limit does not inherit: contending must not be a way around the limit.
      if (heir && heir.entry.json !== 'null' && this.mayClaim(heir.peer, 1)) this.inherit(heir.peer, heir.entry)
      else removed.push(id)
    }
    if (removed.length === 0) return
    removeAwarenessStates(this.awareness, removed, peer)
    const forgetAt = this.now() + DEPARTED_GRACE_MS
    for (const id of removed) {
      this.departed.delete(id) // re-inserted at the end: the map stays in expiry order
      this.departed.set(id, forgetAt)
    }
  }

  private verdict(peer: Peer, { clientId, clock, json }: AwarenessEntry): 'keep' | 'claim' | PresenceDrop {
    const size = this.limits.maxStateBytes
    // JSON text takes at least one UTF-8 byte per UTF-16 unit, at most three: count exactly only near the limit.
    if (size > 0 && json.length * 3 > size && Buffer.byteLength(json) > size) {
      throw new ProtocolError('QUIRE_AWARENESS_TOO_LARGE', `awareness state larger than ${size} bytes`)
    }
    const owner = this.owners.get(clientId)
    if (owner === peer) return 'keep'
    if (clientId === this.awareness.clientID) return 'server-id'
    const known = this.awareness.meta.get(clientId)?.clock
    if (owner) return known !== undefined && clock <= known ? 'echo' : 'foreign'
    if (json === 'null') return 'unknown-removal'
    // A departed id's old state, echoed late by a client that had not yet seen the removal.
    if (known !== undefined && clock <= known) return 'echo'
    return 'claim'
  }

  private mayClaim(peer: Peer, count: number): boolean {
    const max = this.limits.maxClients
    return max <= 0 || (this.owned.get(peer)?.size ?? 0) + count <= max
  }

  private claim(peer: Peer, id: number): void {
    this.owners.set(id, peer)
    this.departed.delete(id)
    let ids = this.owned.get(peer)
    if (!ids) this.owned.set(peer, (ids = new Set()))
    ids.add(id)
  }

  /**
   * Hands an id to its heir with the last state the heir sent. The clock must pass the departed
   * owner's, or peers that saw that owner would ignore it.
   */
  private inherit(peer: Peer, entry: AwarenessEntry): void {
    const previous = this.awareness.meta.get(entry.clientId)?.clock ?? 0
    this.claim(peer, entry.clientId)
    applyAwarenessUpdate(this.awareness, encodeAwarenessEntries([{ ...entry, clock: Math.max(entry.clock, previous + 1) }]), peer)
  }

  /** Drops the clocks of ids removed more than the grace period ago (and not claimed since). */
  private forgetDeparted(): void {
    const now = this.now()
    for (const [id, forgetAt] of this.departed) {
      if (forgetAt > now) break
      this.departed.delete(id)
      if (!this.owners.has(id)) this.awareness.meta.delete(id)
    }
  }
}
