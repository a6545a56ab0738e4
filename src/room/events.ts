/**
 * What a room tells the rest of the server: every change to a document, once it is durable, with
 * where it came from; every change to its presence; rooms opening and closing; connections
 * joining and leaving; versions saved and restored (the REST routes report those through the
 * registry, which is the one object every producer and consumer shares). The cluster bus
 * (cluster/) publishes local changes to other instances from here, and applies theirs through
 * `Room.applyRemoteUpdate`/`applyRemoteAwareness`, which are stored by the instance that made
 * them and so are not appended again. Later consumers (change events, webhooks) read the same feed.
 */
import type { Peer } from './peer.js'
import type { Room } from './room.js'

/** Where a document update came from. */
export type UpdateOrigin =
  /** A client connection of this instance. */
  | { kind: 'peer'; peer: Peer }
  /** The server itself: a REST write or a version restore on this instance. */
  | { kind: 'server' }
  /**
   * Another instance, which stored it under `seq`; `instance` is null when it was read back from
   * the store (catching up after a missed message) rather than received from that instance.
   */
  | { kind: 'remote'; instance: string | null; seq: number }

/** A document update that is durable (stored by this instance, or by the remote one that made it). */
export interface StoredUpdate {
  /** Its sequence number in the store. */
  seq: number
  /** What it changed in this instance's document, as a Yjs v1 update. */
  update: Uint8Array
  origin: UpdateOrigin
}

/**
 * Where an awareness change came from: a local peer (including its states removed when it left),
 * another instance, or y-protocols expiring a state nobody renewed for 30 s (which every
 * instance does on its own, so it is not passed on).
 */
export type AwarenessOrigin = { kind: 'peer'; peer: Peer } | { kind: 'remote'; instance: string } | { kind: 'expired' }

export interface AwarenessChange {
  /** Client ids whose state was added, updated or removed. */
  ids: number[]
  origin: AwarenessOrigin
}

/** A named version saved or restored through this instance (REST, or a backup restored over REST). */
export interface VersionChange {
  name: string
  /** As the versions API names it. */
  version: { id: number; label: string }
  /** Created: every update up to it is in the version; restored: the restoring edit's. Absent when not known. */
  seq?: number
  /** The token's `sub` of who asked, when authentication is on. */
  subject?: string
}

/**
 * Receives a registry's room events. Every method is optional and must not throw: it runs
 * inside the room's bookkeeping.
 */
export interface RoomObserver {
  /** A room was loaded from storage and serves peers now. */
  roomOpened?(room: Room): void
  /** A room stopped serving (unloaded, failed or deleted); it will not emit again. */
  roomClosed?(room: Room): void
  /** A local update is durable; remote ones are reported too (origin `remote`) once applied. */
  updateStored?(room: Room, stored: StoredUpdate): void
  awarenessChanged?(room: Room, change: AwarenessChange): void
  /** A peer here sent a stateless message (Hocuspocus protocol); it went to this room's other peers. */
  statelessSent?(room: Room, payload: string): void
  /** A document was deleted through this instance. */
  documentDeleted?(name: string): void
  /** A client connection joined a room (server-side holds are not reported). */
  peerJoined?(room: Room, peer: Peer): void
  /** …and left it: closed, or the room closed under it. `peer.closeCode` says how, when known. */
  peerLeft?(room: Room, peer: Peer): void
  /**
   * A version is committed. The caller answers its client once the returned promise settles, so
   * an observer that records the change durably (change events) makes that answer mean "recorded".
   * It must not reject.
   */
  versionCreated?(change: VersionChange): void | Promise<void>
  /** A version's restore is durable; as versionCreated. */
  versionRestored?(change: VersionChange): void | Promise<void>
}
