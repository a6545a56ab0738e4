/**
 * The Hocuspocus provider protocol on a WebSocket (docs/hocuspocus.md): one socket carries many
 * documents, each frame addressed to one of them. Every (socket, address) is a `Connection`
 * (connection.ts) — the same admission, pre-join queue, decoding, room and close handling as a
 * y-websocket connection — over a `Wire` that prefixes what it sends with the address. What is
 * Hocuspocus' own lives here — routing frames by address, the in-band Auth message, the document
 * cap, the provider's Close — and in hocuspocus-document.ts: admission by token, `SyncStatus`
 * acknowledgements sent once an update is durable, stateless messages, and which faults end a
 * document rather than the socket.
 *
 * Faults of the socket close the socket (the provider reconnects every document): an unreadable
 * address, a text frame, and the limits that are the socket's — message rate, slow reader,
 * frames queued before join. Everything else closes one document with Hocuspocus' Close message
 * (or answers permission-denied when it is about the token) and leaves the others alone.
 */
import { WebSocket } from 'ws'
import { ProtocolError, closeReason } from '../protocol/close-codes.js'
import { HocuspocusType, documentOfAddress, encodeAddress, encodeHocuspocusPermissionDenied, readAuthToken, readHocuspocusFrame } from '../protocol/hocuspocus.js'
import type { ConnectionAuth } from '../auth/websocket-auth.js'
import type { ConnectionGuard } from '../limits/socket-guard.js'
import type { TransportMetrics } from '../metrics/hooks.js'
import type { Logger } from '../room/peer.js'
import type { RoomRegistry } from '../room/registry.js'
import { DocumentSession, type DocumentSocket } from './hocuspocus-document.js'

export interface HocuspocusSocketOptions {
  id: string
  registry: RoomRegistry
  log: Logger
  metrics: TransportMetrics
  /** The socket's limits: one message rate, one send buffer and one pre-join queue for all its documents. */
  guard?: ConnectionGuard
  auth?: ConnectionAuth
  /** Documents one socket may have open (or waiting for auth) at once; 0: no cap. */
  maxDocuments: number
}

export class HocuspocusSocket implements DocumentSocket {
  private readonly sessions = new Map<string, DocumentSession>()
  private closed = false

  constructor(
    readonly ws: WebSocket,
    readonly options: HocuspocusSocketOptions,
  ) {}

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN
  }

  /** Bytes of every document's frames waiting for their rooms: the socket's pre-join queue. */
  queuedTotals(): { messages: number; bytes: number } {
    let messages = 0
    let bytes = 0
    for (const session of this.sessions.values()) {
      const queued = session.connection.queued
      messages += queued.messages
      bytes += queued.bytes
    }
    return { messages, bytes }
  }

  receive(frame: Uint8Array, isBinary: boolean): void {
    if (this.closed) return
    if (!isBinary) return this.fail(new ProtocolError('QUIRE_UNSUPPORTED_MESSAGE', 'text frames are not supported'))
    let parsed
    try {
      parsed = readHocuspocusFrame(frame)
    } catch (error) {
      this.options.metrics.received('invalid', frame.byteLength)
      return this.fail(error instanceof ProtocolError ? error : new ProtocolError('QUIRE_MALFORMED_FRAME', 'malformed message'))
    }
    if (parsed.kind === 'pong') return
    const { address, type, body, decoder } = parsed
    let session = this.sessions.get(address)
    if (type === HocuspocusType.close) {
      // The provider detached this document: it expects no answer.
      this.options.metrics.received('close', frame.byteLength)
      return session?.end(1000)
    }
    let token: string | undefined
    if (type === HocuspocusType.auth) {
      // Auth frames never reach a Connection: charged to the socket's rate here.
      this.options.metrics.received('auth', frame.byteLength)
      if (this.overRate()) return
      try {
        token = readAuthToken(decoder)
      } catch (error) {
        return this.fail(error as ProtocolError)
      }
    }
    if (!session) {
      if (this.options.maxDocuments > 0 && this.sessions.size >= this.options.maxDocuments) {
        if (token === undefined && this.overRate()) return
        const error = new ProtocolError('QUIRE_TOO_MANY_DOCUMENTS', `more than ${this.options.maxDocuments} documents on one connection`)
        this.options.metrics.connectionError(error.code)
        return this.send(encodeHocuspocusPermissionDenied(encodeAddress(address), error.message))
      }
      let name: string
      try {
        name = documentOfAddress(address)
      } catch (error) {
        return this.fail(error as ProtocolError)
      }
      session = new DocumentSession(this, address, name)
      this.sessions.set(address, session)
      session.start()
    }
    if (token !== undefined) return session.authenticate(token)
    session.connection.receive(body, true)
  }

  /** The socket closed (either side): every document leaves its room. */
  socketClosed(code: number): void {
    this.closed = true
    for (const session of this.sessions.values()) session.connection.closed(code)
    this.sessions.clear()
  }

  /** Closes the whole socket with `error`'s code and reason. */
  fail(error: ProtocolError): void {
    if (this.closed) return
    this.closed = true
    this.options.guard?.rejected(error)
    this.options.metrics.connectionError(error.code)
    this.options.log.info({ conn: this.options.id, code: error.code, closeCode: error.closeCode, reason: error.message }, 'closing connection')
    this.closeSocket(error.closeCode, error.message)
  }

  closeSocket(code: number, reason: string): void {
    this.closed = true
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, closeReason(reason))
  }

  send(frame: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame)
  }

  forget(session: DocumentSession): void {
    if (this.sessions.get(session.address) === session) this.sessions.delete(session.address)
  }

  /** Charges a frame no document's connection will see to the socket's message rate. */
  private overRate(): boolean {
    const refused = this.options.guard?.message(false)
    if (refused) this.fail(refused)
    return refused !== null && refused !== undefined
  }
}
