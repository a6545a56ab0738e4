/**
 * Server-Sent Events transport: one document as an event stream (`GET …/api/docs/:name/events`)
 * for clients that cannot keep a WebSocket open (proxies that strip upgrades, some corporate
 * networks and hosting platforms). What a client sends goes over plain HTTP: document updates
 * with `POST …/update`, awareness with `POST …/awareness` naming its stream (docs/sse.md).
 *
 * A stream is a Connection (connection.ts) over a Wire that writes events to the HTTP response,
 * so admission, read-only marking, token expiry, the message-rate bucket, presence ownership,
 * the slow-consumer limit and error handling are the WebSocket's own. What differs:
 *
 * - Updates come from the registry's durable feed (room/events.ts), which carries each update's
 *   sequence number in the store: it becomes the event's `id:`, and a client that reconnects
 *   with `Last-Event-ID` gets exactly the updates after it, read from the store.
 * - The first event, `sync`, replaces y-websocket's SyncStep1/SyncStep2 exchange: what the client
 *   lacks (or, on resume, nothing) and the server's state vector, so the client can POST what the
 *   server lacks.
 *
 * Ordering: the stream subscribes to the feed in the same synchronous step as it takes the
 * snapshot, so an update is either in the snapshot or arrives through the feed afterwards. The
 * snapshot holds every update this room stored up to `Room.durableSeq()` at that moment; the
 * feed's updates of this room at or below it are skipped, later ones relayed.
 *
 * Ids: an event's `id:` is a seq up to which the client has every update, so a resume never
 * skips one. With one instance that is each update's own seq. With several, other instances'
 * updates arrive out of order, or are still on their way when a snapshot is taken; each room's
 * progress (which seqs it holds) is tracked here from the same feed, and a stream's ids only
 * move past a seq once the client has everything below it.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { CLOSE_ERRORS, type CloseErrorCode } from '../protocol/close-codes.js'
import { noTransportMetrics, type TransportMetrics } from '../metrics/hooks.js'
import type { Logger } from '../room/peer.js'
import type { Room } from '../room/room.js'
import type { RoomRegistry } from '../room/registry.js'
import type { StoredUpdate } from '../room/events.js'
import type { DocStore } from '../storage/doc-store.js'
import { LimitError } from '../limits/limits.js'
import type { SocketGuard } from '../limits/socket-guard.js'
import type { Principal } from '../auth/permissions.js'
import { SseStream } from './sse-stream.js'
import { DEFAULT_SSE_HEARTBEAT_MS, MAX_AHEAD, base64 } from './sse-events.js'

export { DEFAULT_SSE_HEARTBEAT_MS, SSE_HEADERS, type SyncEventData } from './sse-events.js'
export { SseStream } from './sse-stream.js'

export interface SseTransportOptions {
  registry: RoomRegistry
  /** The store the registry writes to: `Last-Event-ID` resumes read its log. */
  store: DocStore
  log: Logger
  metrics?: TransportMetrics
  /** Connection, message-rate and slow-consumer limits, shared with the WebSocket transport. */
  guard?: SocketGuard
  heartbeatMs?: number
}

export interface OpenStream {
  name: string
  request: IncomingMessage
  response: ServerResponse
  /** From `admit`: releases the connection slot. */
  release?: () => void
  /** `Last-Event-ID`: resume after this seq. */
  lastEventId?: number
  /** The client's state vector (`?sv=`): the `sync` event then carries only what it lacks. */
  stateVector?: Uint8Array
  /** The token's principal: the stream ends when it expires. */
  principal?: Principal
  /** Read access only (POSTs are refused before they get here; the room drops its writes too). */
  readOnly?: boolean
  /** Headers earlier hooks set on the reply (CORS, rate limit), sent with the stream's. */
  headers?: OutgoingHttpHeaders
}


/**
 * Which seqs a room holds: every one up to `complete`, and `present` above it. Updates read back
 * from the store (origin `remote`, instance null: a cluster catching up after a missed message,
 * applied in seq order from the room's first gap, or a whole reload) leave the room complete up
 * to their seq.
 */
class Progress {
  readonly present = new Set<number>()

  constructor(public complete: number) {}

  add({ seq, origin }: StoredUpdate): void {
    if (origin.kind === 'remote' && origin.instance === null) {
      if (seq > this.complete) this.complete = seq
      for (const s of this.present) if (s <= this.complete) this.present.delete(s)
    } else if (seq > this.complete) {
      this.present.add(seq)
    }
    while (this.present.delete(this.complete + 1)) this.complete++
    // A gap nothing fills (another server writing without the cluster bus): stop tracking above
    // it. Streams of the room then keep their ids at `complete` and resume with more than they need.
    if (this.present.size > MAX_AHEAD) this.present.clear()
  }
}

/** Every open event stream of one server, and the feed of durable updates they read. */
export class SseTransport {
  readonly registry: RoomRegistry
  readonly store: DocStore
  readonly log: Logger
  readonly metrics: TransportMetrics
  readonly guard: SocketGuard | undefined
  private readonly streams = new Map<string, SseStream>()
  private readonly byRoom = new Map<Room, Set<SseStream>>()
  private readonly progress = new WeakMap<Room, Progress>()
  private readonly heartbeatMs: number
  private heartbeat: NodeJS.Timeout | undefined
  private accepting = true

  constructor(options: SseTransportOptions) {
    this.registry = options.registry
    this.store = options.store
    this.log = options.log
    this.metrics = options.metrics ?? noTransportMetrics
    this.guard = options.guard
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_SSE_HEARTBEAT_MS
    this.registry.observe({
      roomOpened: (room) => {
        this.progress.set(room, new Progress(room.loadedSeq))
      },
      updateStored: (room, stored) => {
        this.progress.get(room)?.add(stored)
        const streams = this.byRoom.get(room)
        if (!streams) return
        let data: string | undefined
        const text = () => (data ??= base64(stored.update)) // encoded once for every stream of the room
        for (const stream of streams) stream.stored(stored, text)
      },
      roomClosed: (room) => {
        this.byRoom.delete(room)
      },
    })
  }

  /** Open streams. */
  get size(): number {
    return this.streams.size
  }

  /** False once the server is shutting down. */
  get isAccepting(): boolean {
    return this.accepting
  }

  /** Counts a connection for `ip` (the limits the WebSocket transport applies): its release, or the error to answer. */
  admit(ip: string | undefined): (() => void) | LimitError {
    const admitted = this.guard?.admit(ip)
    return admitted ?? (() => {})
  }

  /** Starts a stream on a response nobody else writes to (a hijacked reply). */
  open(options: OpenStream): SseStream {
    const stream = new SseStream(this, options)
    this.streams.set(stream.id, stream)
    this.heartbeat ??= setInterval(() => {
      for (const s of this.streams.values()) s.ping()
    }, this.heartbeatMs)
    this.heartbeat.unref()
    stream.start()
    return stream
  }

  /** The open stream with this id (from its `sync` event), if any. */
  get(id: string | undefined): SseStream | undefined {
    return id === undefined ? undefined : this.streams.get(id)
  }

  /** Ends every stream with a `close` event (1001) and refuses new ones. */
  close(): void {
    this.accepting = false
    for (const stream of [...this.streams.values()]) stream.shutdown()
    this.stopHeartbeat()
  }

  /** @internal The seqs `room` holds now: every one up to `complete`, and `present`. */
  progressOf(room: Room): { complete: number; present: number[] } {
    const progress = this.progress.get(room)
    return progress ? { complete: progress.complete, present: [...progress.present] } : { complete: room.loadedSeq, present: [] }
  }

  /** @internal */
  subscribe(room: Room, stream: SseStream): void {
    let streams = this.byRoom.get(room)
    if (!streams) this.byRoom.set(room, (streams = new Set()))
    streams.add(stream)
  }

  /** @internal */
  unsubscribe(room: Room | null, stream: SseStream): void {
    if (!room) return
    const streams = this.byRoom.get(room)
    if (!streams) return
    streams.delete(stream)
    if (streams.size === 0) this.byRoom.delete(room)
  }

  /** @internal */
  forget(stream: SseStream): void {
    this.streams.delete(stream.id)
    if (this.streams.size === 0) this.stopHeartbeat()
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat)
    this.heartbeat = undefined
  }
}

/**
 * The HTTP status answering a POST whose message closed its stream with `code` (the REST
 * error shape): the 44xx codes mirror HTTP already.
 */
export function httpStatusOf(code: CloseErrorCode): number {
  if (code === 'QUIRE_MESSAGE_RATE') return 429
  const close = CLOSE_ERRORS[code].close
  if (close >= 4400 && close < 4500) return close - 4000
  if (close === 1013 || close === 1001) return 503
  if (close === 1011) return 500
  return 400
}

/** Ends every stream when the server closes: an open stream would keep `server.close()` waiting. */
export function attachSse(app: FastifyInstance, options: SseTransportOptions): SseTransport {
  const transport = new SseTransport(options)
  app.addHook('preClose', async () => transport.close())
  return transport
}
