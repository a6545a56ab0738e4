/**
 * One event stream of a document (docs/sse.md): a Connection whose wire writes Server-Sent Events.
 * The transport (sse.ts) opens it and feeds it the room's durable updates.
 */
import type { ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import { CLOSE_ERRORS, ProtocolError, type CloseErrorCode } from '../protocol/close-codes.js'
import { encodeAwareness } from '../protocol/messages.js'
import type { Peer } from '../room/peer.js'
import type { Room } from '../room/room.js'
import type { StoredUpdate } from '../room/events.js'
import type { ConnectionGuard } from '../limits/socket-guard.js'
import { closeAtExpiry } from '../auth/websocket-auth.js'
import { Connection, type Wire } from './connection.js'
import { MAX_AHEAD, SSE_HEADERS, base64, event, type SyncEventData } from './sse-events.js'
import type { OpenStream, SseTransport } from './sse.js'

let nextConnectionId = 0

type Held = { kind: 'update'; stored: StoredUpdate; data: () => string } | { kind: 'awareness'; text: string }

/**
 * One event stream: a Connection whose wire writes events. Its phases:
 *
 *   joining ──▶ syncing ──▶ live ──▶ closed
 *   (auth, room loads)  (snapshot or store read; feed held)  (events flow)
 */
export class SseStream {
  /** Unguessable: whoever knows it may announce presence on this stream's behalf. */
  readonly id = randomBytes(16).toString('base64url')
  readonly name: string
  readonly connection: Connection
  private readonly connectionId = (++nextConnectionId).toString(36)
  private readonly res: ServerResponse
  private readonly guard: ConnectionGuard | undefined
  private phase: 'joining' | 'syncing' | 'live' | 'closed' = 'joining'
  private room: Room | null = null
  /** Feed events and awareness that arrived before the `sync` event went out. */
  private held: Held[] = []
  /** Every update with a seq up to this one is in what the client got (a resume's store read). */
  private skipUpTo = 0
  /** This room's own updates up to this seq are in the snapshot (remote ones may not be). */
  private skipLocalUpTo = 0
  /** Every seq up to this one has reached the client (or was in its snapshot). */
  private watermark = 0
  /** Seqs above the watermark that reached the client. */
  private readonly ahead = new Set<number>()
  /** The last `id:` sent: ids never go backwards, and only name a seq everything below reached. */
  private sentId = -1
  private errorCode: CloseErrorCode | undefined
  private closeCode: number | undefined
  private closeText = ''
  private finished = false
  private bytesOut = 0

  constructor(
    private readonly transport: SseTransport,
    private readonly options: OpenStream,
  ) {
    this.name = options.name
    this.res = options.response
    this.guard = transport.guard?.connection()
    const metrics = transport.metrics
    const writable = () => this.isWritable
    const wire: Wire = {
      send: (frame) => this.frame(frame),
      get bufferedAmount() {
        return options.response.writableLength
      },
      get isOpen() {
        return writable()
      },
      close: (code, reason) => this.end(code, reason),
    }
    const { principal, readOnly } = options
    this.connection = new Connection({
      id: this.connectionId,
      name: options.name,
      wire,
      registry: transport.registry,
      log: transport.log,
      // The error code of a close goes into the `close` event.
      metrics: {
        connectionOpened: () => metrics.connectionOpened('sse'),
        peers: (protocol, delta) => metrics.peers?.(protocol, delta),
        connectionError: (code) => {
          this.errorCode ??= code
          metrics.connectionError(code)
        },
        connectionClosed: (code) => metrics.connectionClosed(code),
        received: (type, bytes) => metrics.received(type, bytes),
        sent: (frame) => metrics.sent(frame),
        updateApplied: (seconds) => metrics.updateApplied(seconds),
      },
      guard: this.guard,
      authorize: principal || readOnly ? (peer, onClose) => this.authorize(peer, onClose) : undefined,
      transport: 'sse',
    })
  }

  /** Events flow: `sync` went out. */
  get isLive(): boolean {
    return this.phase === 'live'
  }

  private get isWritable(): boolean {
    return this.phase !== 'closed' && !this.res.writableEnded && !this.res.destroyed
  }

  /** @internal Writes the headers and joins the room. */
  start(): void {
    const { request, response } = this.options
    // After a hijack nobody else listens: an unheard 'error' (a write racing a reset) would
    // take the process down. Node's own socket listener destroys the socket; these only record.
    const onError = (error: Error) => this.connection.log().debug({ err: error }, 'event stream error')
    request.on('error', onError)
    response.on('error', onError)
    // The socket outlives the response when the client keeps the connection alive.
    const socket = response.socket
    socket?.on('error', onError)
    response.on('close', () => {
      socket?.off('error', onError)
      this.closed()
    })
    this.transport.metrics.connectionOpened('sse')
    this.transport.log.debug({ room: this.name, conn: this.connectionId, transport: 'sse' }, 'connection opened')
    response.writeHead(200, { ...this.options.headers, ...SSE_HEADERS })
    this.write('retry: 2000\n\n')
    this.connection.start()
  }

  /** A heartbeat comment, for live streams. */
  ping(): void {
    if (this.phase === 'live') this.write(': ping\n\n')
  }

  /**
   * An awareness update POSTed for this stream: handled as the WebSocket's awareness message
   * (rate limit, ownership, sizes). The refusal, if any: the stream is closed with it. `update` may
   * be a view into a larger buffer (a pooled request body, a bus message): it is copied into a
   * frame of its own before anything decodes it, since lib0 decoders can read past a view's end.
   */
  receiveAwareness(update: Uint8Array): { code: CloseErrorCode; reason: string } | null {
    if (this.phase !== 'live') return { code: 'QUIRE_SHUTTING_DOWN', reason: 'stream closed' }
    this.connection.receive(encodeAwareness(update), true)
    if (!this.connection.isClosed) return null
    return { code: this.errorCode ?? 'QUIRE_INTERNAL', reason: this.closeText || 'stream closed' }
  }

  /** @internal A durable update of this stream's room (from the registry's feed). */
  stored(stored: StoredUpdate, data: () => string): void {
    if (this.phase === 'syncing') this.held.push({ kind: 'update', stored, data })
    else if (this.phase === 'live') this.deliver(stored, data)
  }

  /** @internal Server shutdown: a `close` event with 1001, not counted as an error. */
  shutdown(): void {
    if (this.phase === 'closed') return
    if (this.res.writableLength > 0) {
      // A client that does not read would hold the server's close up until it drained.
      this.phase = 'closed'
      this.closeCode = CLOSE_ERRORS.QUIRE_SHUTTING_DOWN.close
      this.transport.unsubscribe(this.room, this)
      this.res.destroy()
      return
    }
    this.errorCode = 'QUIRE_SHUTTING_DOWN'
    this.end(CLOSE_ERRORS.QUIRE_SHUTTING_DOWN.close, 'server shutting down')
  }

  private authorize(peer: Peer, onClose: (cleanup: () => void) => void): Promise<boolean> {
    if (this.options.readOnly) peer.readOnly = { dropAwareness: true, dropped() {} }
    // Who is connected, for the dashboard, as for a WebSocket peer (auth/websocket-auth.ts).
    if (this.options.principal?.sub !== undefined) peer.subject = this.options.principal.sub
    if (this.options.principal) onClose(closeAtExpiry(this.options.principal, peer))
    return Promise.resolve(true)
  }

  /** What the room sends this peer: its SyncStep1 (on join) and awareness; its update frames are replaced by the feed. */
  private frame(frame: Uint8Array): void {
    if (frame[0] === 1) {
      const decoder = decoding.createDecoder(frame)
      decoding.readVarUint(decoder)
      const text = event('awareness', base64(decoding.readVarUint8Array(decoder)))
      if (this.phase === 'live') this.write(text)
      else this.held.push({ kind: 'awareness', text })
    } else if (frame[0] === 0 && frame[1] === 0 && this.phase === 'joining') {
      // Room.join sends SyncStep1 first: the peer is in the room now.
      this.joined()
    }
  }

  private joined(): void {
    const room = this.transport.registry.get(this.name)
    if (!room?.isOpen) return
    this.room = room
    this.phase = 'syncing'
    this.transport.subscribe(room, this)
    const lastEventId = this.options.lastEventId
    const started = lastEventId === undefined ? this.fresh(room) : this.resume(room, lastEventId)
    started.catch((error: unknown) => {
      if (this.phase === 'closed' || this.connection.isClosed || !room.isOpen) return // the room failed and closed its peers
      this.connection.log().error({ err: error }, 'could not start event stream')
      this.connection.fail(new ProtocolError('QUIRE_LOAD_FAILED', 'could not read document'))
    })
  }

  /** The snapshot: what the client lacks, with the seq it covers. */
  private async fresh(room: Room): Promise<void> {
    // What the feed brought so far is in the document already, so in the snapshot below.
    this.held = this.held.filter((h) => h.kind === 'awareness')
    const update = Y.encodeStateAsUpdate(room.doc, this.options.stateVector)
    const stateVector = Y.encodeStateVector(room.doc)
    const { complete, present } = this.transport.progressOf(room)
    const appended = await room.durableSeq() // the snapshot is sent only once all of it is durable
    if (this.phase !== 'syncing') return
    // The snapshot holds what the room held, and this room's appends in flight then (up to
    // `appended`), which the feed reports meanwhile.
    this.skipLocalUpTo = appended
    this.setWatermark(complete)
    for (const seq of present) this.cover(seq)
    for (const h of this.held) if (h.kind === 'update' && this.inSnapshot(h.stored)) this.cover(h.stored.seq)
    this.sendSync({ stream: this.id, seq: this.watermark, stateVector: base64(stateVector), update: base64(update) })
    this.goLive()
  }

  /** `Last-Event-ID`: the updates stored after it, or a snapshot when compaction folded them away. */
  private async resume(room: Room, lastId: number): Promise<void> {
    const { store } = this.transport
    const info = await store.info(this.name)
    // An id past the document's last seq is not from this document's history: start afresh.
    const entries = info && lastId <= info.seq ? await store.readSince(this.name, lastId) : null
    if (this.phase !== 'syncing') return
    if (!entries) return this.fresh(room)
    const stateVector = Y.encodeStateVector(room.doc)
    await room.durable()
    if (this.phase !== 'syncing') return
    this.skipUpTo = entries.at(-1)?.seq ?? lastId
    this.setWatermark(lastId)
    this.sendSync({ stream: this.id, seq: lastId, stateVector: base64(stateVector), resumed: true })
    for (const { seq, update } of entries) {
      if (this.phase !== 'syncing') return
      this.cover(seq)
      this.write(event('update', base64(update), this.nextId()))
    }
    this.goLive()
  }

  private sendSync(data: SyncEventData): void {
    this.sentId = data.seq
    this.write(event('sync', JSON.stringify(data), data.seq))
  }

  private goLive(): void {
    if (this.phase !== 'syncing') return
    this.phase = 'live'
    for (const h of this.held.splice(0)) {
      if (this.phase !== 'live') return
      if (h.kind === 'update') this.deliver(h.stored, h.data)
      else this.write(h.text)
    }
  }

  /** In the resume's store read, or this room's own update in the snapshot (another instance's arriving now was not in it). */
  private inSnapshot({ seq, origin }: StoredUpdate): boolean {
    return seq <= this.skipUpTo || (seq <= this.skipLocalUpTo && origin.kind !== 'remote')
  }

  private deliver(stored: StoredUpdate, data: () => string): void {
    const { seq, origin } = stored
    const covered = this.inSnapshot(stored)
    if (origin.kind === 'remote' && origin.instance === null) {
      // Read back from the store in seq order (see Progress): with it the client has every seq up to this one.
      if (seq > this.watermark) this.setWatermark(seq)
    } else {
      this.cover(seq)
    }
    if (!covered) this.write(event('update', data(), this.nextId()))
  }

  private setWatermark(seq: number): void {
    this.watermark = seq
    for (const s of this.ahead) if (s <= seq) this.ahead.delete(s)
    while (this.ahead.delete(this.watermark + 1)) this.watermark++
  }

  /** `seq` reached the client. */
  private cover(seq: number): void {
    if (seq <= this.watermark) return
    this.ahead.add(seq)
    while (this.ahead.delete(this.watermark + 1)) this.watermark++
    if (this.ahead.size > MAX_AHEAD) {
      this.connection.fail(new ProtocolError('QUIRE_STREAM_RESYNC', 'stream lost track of its updates; resume from the last event id'), { leaveLater: true })
    }
  }

  /** The `id:` for the next event: the watermark, when it moved since the last id sent. */
  private nextId(): number | undefined {
    if (this.watermark <= this.sentId) return undefined
    this.sentId = this.watermark
    return this.watermark
  }

  private write(text: string): void {
    if (!this.isWritable) return
    const tooSlow = this.guard?.send(this.res.writableLength)
    if (tooSlow) return this.connection.fail(tooSlow, { leaveLater: true })
    this.res.write(text)
    this.bytesOut += text.length // base64 and JSON of ASCII: one byte per character
  }

  /** The Wire's close: a `close` event with the code, error code and reason, then the end of the response. */
  private end(code: number, reason: string): void {
    if (this.phase === 'closed') return
    this.phase = 'closed'
    this.closeCode = code
    this.closeText = reason
    this.held = []
    this.transport.unsubscribe(this.room, this)
    const res = this.res
    if (res.writableEnded || res.destroyed) return
    // A client that does not read would never see the event, and would hold its buffer meanwhile.
    if (this.errorCode === 'QUIRE_SLOW_CONSUMER') return void res.destroy()
    res.end(event('close', JSON.stringify({ code, error: this.errorCode, reason })))
  }

  /** The response is gone, whoever ended it. */
  private closed(): void {
    if (this.finished) return
    this.finished = true
    if (this.phase !== 'closed') {
      this.phase = 'closed'
      this.held = []
      this.transport.unsubscribe(this.room, this)
    }
    this.transport.forget(this)
    // A client that went away sends no close code: counted as 1005, "no status".
    const code = this.closeCode ?? 1005
    this.connection.closed(code)
    this.options.release?.()
    this.transport.metrics.connectionClosed(code)
    const durationMs = Math.round(performance.now() - this.connection.openedAt)
    this.transport.log.info(
      { room: this.name, conn: this.connectionId, transport: 'sse', code, reason: this.closeText || undefined, durationMs, bytesIn: this.connection.bytesIn, bytesOut: this.bytesOut },
      'connection closed',
    )
  }
}
