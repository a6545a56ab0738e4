/**
 * One client connection to one document, whatever carries its frames: the WebSocket transport
 * today, other transports and wire protocols later. It owns what every transport must get
 * right the same way, in four states:
 *
 *   admitting ──▶ joining ──▶ joined ──▶ closed
 *   (token check)  (room loads)  (frames reach the room)
 *
 * Until joined, frames wait in a queue bounded in messages and bytes and are charged to the
 * rate limit as they arrive. Once joined they are decoded, rate-limited and handed to the room
 * in arrival order. Every refusal is a ProtocolError from the catalogue (protocol/close-codes.ts):
 * it closes this connection only — with its close code and a readable reason, logged and counted
 * once — and never touches the document or the other peers.
 */
import { ProtocolError, closeReason, type CloseErrorCode } from '../protocol/close-codes.js'
import { decodeClientMessage, type ClientMessage, type DecodeLimits } from '../protocol/messages.js'
import { isAwarenessEcho } from '../limits/awareness-echo.js'
import { LimitError } from '../limits/limits.js'
import type { ConnectionGuard } from '../limits/socket-guard.js'
import type { TransportMetrics, WireProtocol } from '../metrics/hooks.js'
import type { Logger, Peer } from '../room/peer.js'
import type { Room } from '../room/room.js'
import { ShuttingDownError, type RoomRegistry } from '../room/registry.js'

/** What a connection needs from the socket under it. */
export interface Wire {
  /** Sends one frame; called only while the wire is open. */
  send(frame: Uint8Array): void
  /** Bytes handed to `send` and not yet written to the network. */
  readonly bufferedAmount: number
  readonly isOpen: boolean
  /** Starts the closing handshake with a close code and reason; a no-op once closing. `error`: which one. */
  close(code: number, reason: string, error?: CloseErrorCode): void
}

/**
 * Decides whether the connection may join (it may mark `peer` read-only). On refusal it closes
 * the peer itself and resolves false. `onClose` registers cleanup (an expiry timer).
 */
export type Authorize = (peer: Peer, onClose: (cleanup: () => void) => void, log: () => Logger) => Promise<boolean>

export interface ConnectionOptions {
  /** Short id for logs. */
  id: string
  /** The document, already validated. */
  name: string
  wire: Wire
  registry: RoomRegistry
  log: Logger
  metrics: TransportMetrics
  /** Rate, slow-consumer and queue limits; absent: unlimited. */
  guard?: ConnectionGuard
  authorize?: Authorize
  /** Decodes a frame's message (default y-websocket's); a wire protocol with more types brings its own. */
  decode?: (frame: Uint8Array, limits: DecodeLimits) => ClientMessage
  /** Runs after the room took a message (the Hocuspocus protocol acknowledges updates from here). */
  afterReceive?: (message: ClientMessage, room: Room) => void
  /** What carries it, for connection change events. */
  transport?: 'websocket' | 'sse' | 'hocuspocus'
}

type State = 'admitting' | 'joining' | 'joined' | 'closed'

export class Connection {
  private state: State = 'admitting'
  private room: Room | null = null
  private readonly queue: Uint8Array[] = []
  private queuedBytes = 0
  private readonly cleanups: Array<() => void> = []
  private childLog: Logger | undefined
  readonly openedAt = performance.now()
  bytesIn = 0
  bytesOut = 0
  readonly peer: Peer

  constructor(private readonly options: ConnectionOptions) {
    const { id, wire, metrics, guard } = options
    this.peer = {
      id,
      send: (frame) => {
        if (this.state === 'closed' || !wire.isOpen) return
        const tooSlow = guard?.send(wire.bufferedAmount)
        // Closing from inside a send: the room may be iterating its peers, so leave it afterwards.
        if (tooSlow) return this.fail(tooSlow, { leaveLater: true })
        wire.send(frame)
        this.bytesOut += frame.byteLength
        metrics.sent(frame)
      },
      close: (code, reason) => this.fail(new ProtocolError(code, reason), { leaveLater: true }),
      transport: options.transport,
    }
  }

  /** Frames waiting for the room (the Hocuspocus transport bounds them per socket). */
  get queued(): { messages: number; bytes: number } {
    return { messages: this.queue.length, bytes: this.queuedBytes }
  }

  get name(): string {
    return this.options.name
  }

  get isClosed(): boolean {
    return this.state === 'closed'
  }

  /** The connection's logger, made on first use: a child logger per idle socket costs memory. */
  readonly log = (): Logger =>
    (this.childLog ??= (this.options.log as unknown as { child(b: object): Logger }).child({ room: this.options.name, conn: this.options.id }))

  /** Authorises, then joins the room; frames received meanwhile wait. */
  start(): void {
    const { authorize, registry, name } = this.options
    const admitted = authorize ? authorize(this.peer, (cleanup) => this.onClosed(cleanup), this.log) : Promise.resolve(true)
    void admitted
      .then(async (ok) => {
        if (!ok || this.state === 'closed') return
        this.state = 'joining'
        const room = await registry.join(name, this.peer)
        if (this.isClosed) return room.leave(this.peer)
        this.room = room
        this.state = 'joined'
        this.options.metrics.peers?.(this.protocol, 1)
        for (const frame of this.queue.splice(0)) {
          this.handle(frame, true)
          if (this.isClosed) break
        }
        this.queuedBytes = 0
      })
      .catch((error: unknown) => {
        if (error instanceof ProtocolError) return this.fail(error)
        if (error instanceof ShuttingDownError) return this.fail(new ProtocolError('QUIRE_SHUTTING_DOWN', 'server shutting down'))
        this.log().error({ err: error }, 'could not load document')
        this.fail(new ProtocolError('QUIRE_LOAD_FAILED', 'could not load document'))
      })
  }

  /** One frame from the client. Text frames are refused: the protocol is binary. */
  receive(frame: Uint8Array, isBinary: boolean): void {
    if (this.state === 'closed') return
    this.bytesIn += frame.byteLength
    if (!isBinary) {
      this.options.metrics.received('invalid', frame.byteLength)
      return this.fail(new ProtocolError('QUIRE_UNSUPPORTED_MESSAGE', 'text frames are not supported'))
    }
    if (this.state === 'joined') this.handle(frame, false)
    else this.enqueue(frame)
  }

  /** The transport saw the socket close (either side), with the code if it has one. Idempotent. */
  closed(code?: number): void {
    // Before leaving: the room reports the code. A close we started keeps the code fail() sent.
    this.peer.closeCode ??= code
    this.state = 'closed'
    this.leaveRoom()
    for (const cleanup of this.cleanups.splice(0)) cleanup()
  }

  /** Closes the connection with `error`'s code and reason; logs and counts it once. */
  fail(error: ProtocolError, { leaveLater = false } = {}): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.peer.closeCode ??= error.closeCode
    this.options.guard?.rejected(error)
    this.options.metrics.connectionError(error.code)
    const fields = { code: error.code, closeCode: error.closeCode, reason: error.message }
    if (error.closeCode === 1011) this.log().error(fields, 'closing connection')
    else if (error instanceof LimitError || error.closeCode < 4000) this.log().warn(fields, 'closing connection')
    else this.log().info(fields, 'closing connection')
    if (this.options.wire.isOpen) this.options.wire.close(error.closeCode, closeReason(error.message), error.code)
    if (leaveLater) queueMicrotask(() => this.leaveRoom())
    else this.leaveRoom()
  }

  private onClosed(cleanup: () => void): void {
    if (this.state === 'closed') cleanup()
    else this.cleanups.push(cleanup)
  }

  private leaveRoom(): void {
    if (!this.room) return
    this.room.leave(this.peer)
    this.room = null
    this.options.metrics.peers?.(this.protocol, -1)
  }

  private get protocol(): WireProtocol {
    const transport = this.options.transport
    return transport === 'sse' || transport === 'hocuspocus' ? transport : 'y-websocket'
  }

  /** Holds a frame until the room is joined, within the queue's bounds and the rate limit. */
  private enqueue(frame: Uint8Array): void {
    const guard = this.options.guard
    const refused = guard?.queue(this.queue.length, this.queuedBytes, frame.byteLength) ?? guard?.message(false)
    if (refused) return this.fail(refused)
    this.queue.push(frame)
    this.queuedBytes += frame.byteLength
  }

  /** Decodes one frame and hands it to the room; `charged`: its rate token was taken when queued. */
  private handle(frame: Uint8Array, charged: boolean): void {
    const room = this.room!
    const { metrics, guard } = this.options
    let message: ClientMessage
    try {
      message = (this.options.decode ?? decodeClientMessage)(frame, { maxAwarenessEntries: room.maxAwarenessEntries })
    } catch (error) {
      metrics.received('invalid', frame.byteLength)
      return this.fail(this.asProtocolError(error))
    }
    if (!charged) {
      const overRate = guard?.message(message.type === 'awareness' && isAwarenessEcho(message.entries, room.awareness))
      if (overRate) return this.fail(overRate)
    }
    metrics.received(message.type, frame.byteLength)
    try {
      if (message.type === 'update' || message.type === 'sync-step2') {
        const start = performance.now()
        room.receive(this.peer, message)
        metrics.updateApplied((performance.now() - start) / 1000)
      } else {
        room.receive(this.peer, message)
      }
      this.options.afterReceive?.(message, room)
    } catch (error) {
      this.fail(this.asProtocolError(error))
    }
  }

  private asProtocolError(error: unknown): ProtocolError {
    if (error instanceof ProtocolError) return error
    this.log().error({ err: error }, 'unexpected error while handling a frame')
    return new ProtocolError('QUIRE_INTERNAL', 'internal error')
  }
}
