/**
 * One document on a Hocuspocus socket (hocuspocus.ts): a Connection whose frames carry the
 * document's address, admitted by the token of its Auth message, acknowledging updates once they
 * are durable, and closed alone — with Hocuspocus' Close message — unless the fault is the socket's.
 */
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import type { WebSocket } from 'ws'
import { CLOSE_ERRORS, ProtocolError, type CloseErrorCode } from '../protocol/close-codes.js'
import {
  HocuspocusType,
  addressed,
  encodeAddress,
  encodeAuthenticated,
  encodeClose,
  encodeHocuspocusPermissionDenied,
  encodeStateless,
  encodeSyncStatus,
  readStatelessPayload,
} from '../protocol/hocuspocus.js'
import { decodeClientMessage, encodeSyncStep1, type ClientMessage, type DecodeLimits } from '../protocol/messages.js'
import { admit, grant } from '../auth/websocket-auth.js'
import type { Logger, Peer } from '../room/peer.js'
import type { Room } from '../room/room.js'
import { Connection, type Wire } from './connection.js'
import type { HocuspocusSocketOptions } from './hocuspocus.js'

/** What a document needs from the socket it is on. */
export interface DocumentSocket {
  readonly ws: WebSocket
  readonly options: HocuspocusSocketOptions
  readonly isOpen: boolean
  /** Frames of every document of the socket waiting for their rooms. */
  queuedTotals(): { messages: number; bytes: number }
  send(frame: Uint8Array): void
  closeSocket(code: number, reason: string): void
  /** The document ended: its address is free again. */
  forget(session: DocumentSession): void
}

/** Faults that are the socket's, not one document's: they close the socket. */
const SOCKET_FAULTS: ReadonlySet<CloseErrorCode> = new Set(['QUIRE_MESSAGE_RATE', 'QUIRE_SLOW_CONSUMER', 'QUIRE_QUEUE_FULL', 'QUIRE_SHUTTING_DOWN'])
/** Refusals of a token: answered with permission-denied; the provider may authenticate again. */
const AUTH_REFUSALS: ReadonlySet<CloseErrorCode> = new Set(['QUIRE_UNAUTHORIZED', 'QUIRE_FORBIDDEN', 'QUIRE_AUTH_UNAVAILABLE'])

/**
 * The last frame prefixed, per room frame: a broadcast goes to every peer of a room with the same
 * bytes, and the peers of one document share its address, so it is copied once, not per peer.
 */
const prefixed = new WeakMap<Uint8Array, { address: string; out: Uint8Array }>()

/** One document on a Hocuspocus socket: a Connection whose frames carry the document's address. */
export class DocumentSession {
  readonly connection: Connection
  private readonly prefix: Uint8Array
  private token: ((token: string | null) => void) | null = null
  private readonly tokenArrived = new Promise<string | null>((resolve) => (this.token = resolve))
  private joined = false
  private stepOnes = 0
  private cancelExpiry: () => void = () => {}
  private saved: Uint8Array | undefined

  constructor(
    private readonly socket: DocumentSocket,
    readonly address: string,
    readonly name: string,
  ) {
    this.prefix = encodeAddress(address)
    const { options } = socket
    const ws = socket.ws
    const wire: Wire = {
      send: (frame) => this.sendRoomFrame(frame),
      get bufferedAmount() {
        return ws.bufferedAmount
      },
      get isOpen() {
        return socket.isOpen
      },
      close: (code, reason, error) => this.closedByServer(reason, error),
    }
    const guard = options.guard
    this.connection = new Connection({
      id: `${options.id}/${address.length > 40 ? address.slice(0, 40) + '…' : address}`,
      name,
      wire,
      registry: options.registry,
      log: options.log,
      metrics: options.metrics,
      // The queue bound is the socket's, summed over its documents, so many documents cannot multiply it.
      guard: guard && {
        ...guard,
        queue: (_count, _bytes, size) => {
          const totals = socket.queuedTotals()
          return guard.queue(totals.messages, totals.bytes, size)
        },
      },
      authorize: (peer, onClose, log) => this.authorize(peer, onClose, log),
      decode: decodeHocuspocusMessage,
      afterReceive: (message, room) => this.acknowledge(message, room),
      transport: 'hocuspocus',
    })
    this.connection.peer.stateless = (payload) => this.socket.send(encodeStateless(this.prefix, payload))
  }

  start(): void {
    this.connection.start()
  }

  /** An Auth message: the first admits the document; a later one refreshes its token. */
  authenticate(token: string): void {
    if (this.token) {
      const resolve = this.token
      this.token = null
      return resolve(token)
    }
    if (this.joined) void this.refresh(token)
  }

  /** The provider closed the document, or the socket went. */
  end(code: number): void {
    this.token?.(null)
    this.socket.forget(this)
    this.connection.closed(code)
  }

  private async authorize(peer: Peer, onClose: (cleanup: () => void) => void, log: () => Logger): Promise<boolean> {
    onClose(() => this.cancelExpiry())
    const token = await this.tokenArrived
    if (token === null) return false
    const auth = this.socket.options.auth
    let readOnly = false
    if (auth) {
      const admission = await admit(auth.authenticator, token || undefined, this.name)
      if (!admission.ok) {
        auth.metrics.rejected(CLOSE_ERRORS[admission.code].close)
        peer.close(admission.code, admission.reason) // closedByServer answers permission-denied
        return false
      }
      this.cancelExpiry = grant(auth, admission, peer, log)
      readOnly = admission.readOnly
    }
    if (this.connection.isClosed) return false
    this.socket.send(encodeAuthenticated(this.prefix, readOnly ? 'readonly' : 'read-write'))
    this.joined = true
    return true
  }

  /** A new token for a joined document (the provider's token refresh): it replaces the old one's access and expiry. */
  private async refresh(token: string): Promise<void> {
    const auth = this.socket.options.auth
    if (!auth || this.connection.isClosed) return
    const admission = await admit(auth.authenticator, token || undefined, this.name)
    if (this.connection.isClosed) return
    if (!admission.ok) return this.connection.fail(new ProtocolError(admission.code, admission.reason))
    this.cancelExpiry()
    this.cancelExpiry = grant(auth, admission, this.connection.peer, this.connection.log)
    this.socket.send(encodeAuthenticated(this.prefix, admission.readOnly ? 'readonly' : 'read-write'))
  }

  /**
   * What the room sends, addressed. y-websocket's permission-denied (sent at token expiry before
   * the close) is left out: closedByServer says it in Hocuspocus' words.
   */
  private sendRoomFrame(frame: Uint8Array): void {
    if (frame[0] === HocuspocusType.auth) return
    let hit = prefixed.get(frame)
    if (hit?.address !== this.address) {
      hit = { address: this.address, out: addressed(this.prefix, frame) }
      prefixed.set(frame, hit)
    }
    this.socket.send(hit.out)
  }

  /**
   * Acknowledges each update once it is durable — after the room's append commits, not after the
   * in-memory apply — so the provider's `unsyncedChanges` reaches 0 only for what a crash keeps.
   * A client's SyncStep1 after the first (a resync) gets the server's SyncStep1 too, as Hocuspocus
   * does: the SyncStep2 it draws is what the provider waits to be acknowledged.
   */
  private acknowledge(message: ClientMessage, room: Room): void {
    if (message.type === 'sync-step1') {
      // The first was answered by joining: the room sent its SyncStep1 then.
      if (this.stepOnes++ > 0) this.sendRoomFrame(encodeSyncStep1(Y.encodeStateVector(room.doc)))
      return
    }
    if (message.type !== 'update' && message.type !== 'sync-step2') return
    const peer = this.connection.peer
    if (peer.readOnly) {
      // Refused unless it holds nothing new (a read-only client's SyncStep2 usually does not).
      const known = message.type === 'sync-step2' && Y.snapshotContainsUpdate(Y.snapshot(room.doc), message.update)
      return this.socket.send(encodeSyncStatus(this.prefix, known))
    }
    room.durable().then(
      () => {
        // The same bytes for every acknowledgement of this document: encoded once.
        this.saved ??= encodeSyncStatus(this.prefix, true)
        if (!this.connection.isClosed) this.socket.send(this.saved)
      },
      () => {}, // the room failed and closed its peers: nothing to acknowledge
    )
  }

  /**
   * The Connection closed this document: tell the provider, unless the socket goes with it. A
   * refused token (at auth, at a refresh, at expiry) is answered with permission-denied, which
   * leaves the address free for a new Auth.
   */
  private closedByServer(reason: string, error: CloseErrorCode | undefined): void {
    this.token?.(null)
    this.socket.forget(this)
    if (error && SOCKET_FAULTS.has(error)) return this.socket.closeSocket(CLOSE_ERRORS[error].close, reason)
    if (error && AUTH_REFUSALS.has(error)) return this.socket.send(encodeHocuspocusPermissionDenied(this.prefix, reason))
    this.socket.send(encodeClose(this.prefix, error ? `${error}: ${reason}` : reason))
  }
}

/** Hocuspocus' messages after the address: y-websocket's, plus Stateless. */
function decodeHocuspocusMessage(frame: Uint8Array, limits: DecodeLimits): ClientMessage {
  if (frame[0] === HocuspocusType.stateless) {
    const decoder = decoding.createDecoder(frame) // the frame ends where its buffer does (see readHocuspocusFrame)
    decoding.readVarUint(decoder)
    return { type: 'stateless', payload: readStatelessPayload(decoder) }
  }
  if (frame[0] === HocuspocusType.auth || frame[0] === HocuspocusType.syncReply) {
    throw new ProtocolError('QUIRE_UNSUPPORTED_MESSAGE', `message type ${frame[0]} is sent by the server only`)
  }
  return decodeClientMessage(frame, limits)
}
