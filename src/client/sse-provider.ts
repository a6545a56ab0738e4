/**
 * SseProvider: syncs a Y.Doc and its Awareness with a Quire server over Server-Sent Events and
 * plain HTTP, for networks where WebSockets do not get through. Its surface is the one editors
 * use of y-websocket's WebsocketProvider: `doc`, `awareness`, `synced`, the `sync` and `status`
 * events, `connect()`, `disconnect()`, `destroy()` and `params`.
 *
 * Server → client: one `fetch` streaming `GET …/api/docs/<name>/events` (docs/sse.md), read by a
 * small SSE parser, so the same code runs in browsers and in Node 18+ (which has no
 * EventSource). Client → server: local updates are POSTed to `…/update` one request at a time,
 * everything made meanwhile merged into the next; awareness to `…/awareness`, throttled. After
 * each `sync` event it POSTs what the server lacks (edits made offline), computed from the
 * server's state vector, as y-websocket does with SyncStep1. On reconnect it resumes after the
 * last event id it got, so it receives only what it missed.
 *
 * Depends on yjs, y-protocols and lib0 only.
 */
import * as Y from 'yjs'
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import { ObservableV2 } from 'lib0/observable'
import { fromBase64, toBase64 } from 'lib0/buffer'
import { SseParser, type SseMessage } from './sse-parser.js'

export type SseProviderStatus = 'connecting' | 'connected' | 'disconnected'

/** The `close` event the server sends before ending a stream: a WebSocket close code, Quire's error code, a reason. */
export interface SseCloseEvent {
  code: number
  /** Quire's error code (`QUIRE_…`, docs/errors.md), when the server knows one. */
  error?: string
  reason: string
}

/** A failed request: the HTTP status (absent for a network error) and the server's message. */
export interface SseConnectionError {
  status?: number
  message: string
  /** Which request failed. */
  request: 'events' | 'update' | 'awareness'
}

export type SseProviderEvents = {
  /** The document is in sync with the server (true), or no longer connected (false). */
  sync: (isSynced: boolean) => void
  /** Same as `sync`. */
  synced: (isSynced: boolean) => void
  status: (event: { status: SseProviderStatus }) => void
  /** The server ended the stream with a close code (docs/errors.md). */
  'connection-close': (event: SseCloseEvent, provider: SseProvider) => void
  /** The provider stopped for good after this close (`shouldReconnect` said no: 44xx by default). */
  closed: (event: SseCloseEvent, provider: SseProvider) => void
  'connection-error': (event: SseConnectionError, provider: SseProvider) => void
}

export interface SseProviderOptions {
  /** Connect at once (default true); otherwise call `connect()`. */
  connect?: boolean
  /** Default: a new Awareness of `doc`. */
  awareness?: Awareness
  /**
   * URL parameters. `token` is the bearer token: sent as `?token=` on the event stream (which
   * cannot carry headers in every client) and as an `Authorization` header on POSTs. Read at
   * every request, so a refreshed token can be set here before a reconnect.
   */
  params?: Record<string, string>
  /** Longest wait between reconnect attempts, in ms (default 2500). */
  maxBackoffTime?: number
  /** Local updates made within this many ms go in one POST (default 20). */
  batchMs?: number
  /** At most one awareness POST per this many ms (default 100); the latest state wins. */
  awarenessThrottleMs?: number
  /** Reconnect when nothing arrived for this long (default 35000; the server sends a comment every 15 s). */
  streamTimeoutMs?: number
  /** Whether to reconnect after the server ended the stream with this close; default: not after 4400–4499. */
  shouldReconnect?: (event: SseCloseEvent, provider: SseProvider) => boolean
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch
}

/** State vectors longer than this (base64url characters) are not put in the URL: the server then sends the whole state. */
const MAX_SV_PARAM = 4096

/** Close codes after which reconnecting cannot help: bad name, token, access, deleted, too large. */
const permanent = (event: SseCloseEvent) => event.code >= 4400 && event.code < 4500

type Timer = ReturnType<typeof setTimeout>

export class SseProvider extends ObservableV2<SseProviderEvents> {
  readonly doc: Y.Doc
  readonly awareness: Awareness
  /** Document name; the provider URL-encodes it. */
  readonly roomname: string
  /** The server's base URL (`http(s)://host[/basePath]`; `ws(s)://` works too). */
  readonly serverUrl: string
  params: Record<string, string>
  /** Whether the provider tries to stay connected (`connect()` / `disconnect()`). */
  shouldConnect: boolean
  /** The event stream is open (status `connected`). */
  connected = false
  /** Failed attempts since the last successful sync (drives the backoff). */
  unsuccessfulReconnects = 0
  /** The last event id received: where a reconnect resumes. */
  lastEventId: string | null = null
  /** The open stream's id, from its `sync` event. */
  streamId: string | null = null

  private readonly maxBackoffTime: number
  private readonly batchMs: number
  private readonly awarenessThrottleMs: number
  private readonly streamTimeoutMs: number
  private readonly shouldReconnect: (event: SseCloseEvent, provider: SseProvider) => boolean
  private readonly fetch: typeof fetch
  private _synced = false
  private abort: AbortController | null = null
  private reconnectTimer: Timer | null = null
  private lastReceived = 0
  private readonly checkInterval: ReturnType<typeof setInterval>
  /** Updates to POST, in order; merged into one request. */
  private outgoing: Uint8Array[] = []
  private posting = false
  private flushTimer: Timer | null = null
  private postFailures = 0
  /** Bumped at every `sync`: a POST of an older one that fails is not retried (the new sync's diff has it). */
  private generation = 0
  private awarenessTimer: Timer | null = null
  private lastAwarenessPost = 0
  /** `sync` events so far. */
  private resyncs = 0
  private destroyed = false

  constructor(serverUrl: string, roomname: string, doc: Y.Doc, options: SseProviderOptions = {}) {
    super()
    this.serverUrl = serverUrl.replace(/^ws(s?):\/\//, 'http$1://').replace(/\/+$/, '')
    this.roomname = roomname
    this.doc = doc
    this.awareness = options.awareness ?? new Awareness(doc)
    this.params = options.params ?? {}
    this.maxBackoffTime = options.maxBackoffTime ?? 2500
    this.batchMs = options.batchMs ?? 20
    this.awarenessThrottleMs = options.awarenessThrottleMs ?? 100
    this.streamTimeoutMs = options.streamTimeoutMs ?? 35_000
    this.shouldReconnect = options.shouldReconnect ?? ((event) => !permanent(event))
    this.fetch = options.fetch ?? ((input, init) => fetch(input, init))
    this.shouldConnect = options.connect ?? true
    doc.on('update', this.onDocUpdate)
    this.awareness.on('update', this.onAwarenessUpdate)
    // A stream that went silent (a proxy holding it, a laptop that slept) is replaced.
    this.checkInterval = setInterval(() => {
      if (this.connected && Date.now() - this.lastReceived > this.streamTimeoutMs) this.restart()
    }, Math.max(1000, this.streamTimeoutMs / 10))
    if (this.shouldConnect) this.connect()
  }

  get synced(): boolean {
    return this._synced
  }

  set synced(state: boolean) {
    if (this._synced === state) return
    this._synced = state
    this.emit('synced', [state])
    this.emit('sync', [state])
  }

  /** The event stream's URL (without the resume parameters). */
  get url(): string {
    return this.endpoint('events', this.params)
  }

  connect(): void {
    this.shouldConnect = true
    if (this.destroyed || this.abort || this.reconnectTimer) return
    this.open()
  }

  /** Closes the stream and stops reconnecting; the server removes this client's awareness. Edits made meanwhile are sent after `connect()`. */
  disconnect(): void {
    this.shouldConnect = false
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    this.reconnectTimer = null
    const controller = this.abort
    if (controller) {
      controller.abort()
      this.streamEnded(controller)
    }
  }

  override destroy(): void {
    if (this.destroyed) return
    this.disconnect()
    this.destroyed = true
    clearInterval(this.checkInterval)
    for (const timer of [this.flushTimer, this.awarenessTimer]) if (timer) clearTimeout(timer)
    this.doc.off('update', this.onDocUpdate)
    this.awareness.off('update', this.onAwarenessUpdate)
    super.destroy()
  }

  /** `…/api/docs/<name>/<path>?<query>`. */
  private endpoint(path: string, query: Record<string, string>): string {
    const search = new URLSearchParams(query).toString()
    return `${this.serverUrl}/api/docs/${encodeURIComponent(this.roomname)}/${path}${search ? `?${search}` : ''}`
  }

  private open(): void {
    const controller = new AbortController()
    this.abort = controller
    this.emit('status', [{ status: 'connecting' }])
    const query: Record<string, string> = { ...this.params }
    if (this.lastEventId) query.lastEventId = this.lastEventId
    // What this document has: a first sync (or one after compaction) then carries only what it lacks.
    const sv = toBase64Url(Y.encodeStateVector(this.doc))
    if (sv.length > 2 && sv.length <= MAX_SV_PARAM) query.sv = sv // 'AA' is the empty state vector
    void this.read(controller, this.endpoint('events', query))
  }

  private async read(controller: AbortController, url: string): Promise<void> {
    let failure: SseConnectionError | null = null
    let refused: SseCloseEvent | null = null
    try {
      const response = await this.fetch(url, { headers: { accept: 'text/event-stream' }, signal: controller.signal })
      if (!response.ok || !response.body) {
        failure = { request: 'events', status: response.status, message: await errorMessage(response) }
        // 4xx other than 408/429 will not change by retrying (bad name, token, access).
        if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
          refused = { code: 4000 + response.status, reason: failure.message }
        }
        return
      }
      if (this.abort !== controller) return
      this.connected = true
      this.lastReceived = Date.now()
      this.emit('status', [{ status: 'connected' }])
      const parser = new SseParser((message) => {
        if (this.abort === controller) this.message(message, controller)
      })
      const decoder = new TextDecoder()
      const reader = response.body.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done || this.abort !== controller) break
        this.lastReceived = Date.now()
        parser.push(decoder.decode(value, { stream: true }))
      }
    } catch (error) {
      if (this.abort === controller) failure = { request: 'events', message: error instanceof Error ? error.message : String(error) }
    } finally {
      if (failure) this.emit('connection-error', [failure, this])
      if (refused) this.closeEvent(refused)
      this.streamEnded(controller)
    }
  }

  private message({ event, data, lastEventId }: SseMessage, controller: AbortController): void {
    switch (event) {
      case 'sync': {
        const sync = JSON.parse(data) as { stream: string; stateVector: string; update?: string }
        if (sync.update) Y.applyUpdate(this.doc, fromBase64(sync.update), this)
        this.lastEventId = lastEventId || this.lastEventId
        this.streamId = sync.stream
        this.unsuccessfulReconnects = 0
        this.generation++
        this.synced = true
        // What the server lacks: edits made offline, or before the first connect. It replaces
        // whatever was queued, which it contains.
        const diff = Y.encodeStateAsUpdate(this.doc, fromBase64(sync.stateVector))
        this.outgoing = isEmptyUpdate(diff) ? [] : [diff]
        this.flush()
        const state = this.awareness.getLocalState()
        if (state !== null && this.resyncs++ > 0) {
          // The server removed this client's state when the previous stream closed, which put
          // its clock one past the last one it got from us: a state at that clock would be taken
          // for a late echo and ignored. Two renewals put ours past it (and are POSTed, throttled).
          this.awareness.setLocalState(state)
          this.awareness.setLocalState(state)
        } else if (state !== null) {
          this.postAwareness()
        }
        break
      }
      case 'update':
        Y.applyUpdate(this.doc, fromBase64(data), this)
        this.lastEventId = lastEventId || this.lastEventId
        break
      case 'awareness':
        applyAwarenessUpdate(this.awareness, fromBase64(data), this)
        break
      case 'close': {
        const close = JSON.parse(data) as SseCloseEvent
        this.closeEvent(close)
        // The server ends the response next; do not wait for it.
        controller.abort()
        this.streamEnded(controller)
        break
      }
    }
  }

  private closeEvent(event: SseCloseEvent): void {
    this.emit('connection-close', [event, this])
    if (this.shouldConnect && !this.shouldReconnect(event, this)) {
      this.shouldConnect = false
      this.emit('closed', [event, this])
    }
  }

  /** The stream ended, however: clean up and reconnect with backoff unless told not to. */
  private streamEnded(controller: AbortController): void {
    if (this.abort !== controller) return
    this.abort = null
    this.streamId = null
    // An attempt that never got its `sync` counts towards the backoff, as does one refused outright.
    if (!this.synced) this.unsuccessfulReconnects++
    if (this.connected) {
      this.connected = false
      this.synced = false
      // Others' presence is stale without the stream; the server removes ours when it notices.
      const others = [...this.awareness.getStates().keys()].filter((id) => id !== this.doc.clientID)
      removeAwarenessStates(this.awareness, others, this)
      this.emit('status', [{ status: 'disconnected' }])
    }
    if (!this.shouldConnect || this.destroyed) return
    const wait = Math.min(2 ** this.unsuccessfulReconnects * 100, this.maxBackoffTime)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      if (this.shouldConnect && !this.destroyed && !this.abort) this.open()
    }, wait)
  }

  /** Drops the stream and opens a new one at once (a silent stream, or the server refused what we sent). */
  private restart(): void {
    const controller = this.abort
    if (!controller) return
    controller.abort()
    this.streamEnded(controller)
  }

  private readonly onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this) return
    // Not synced: the diff after the next `sync` carries it.
    if (!this.synced) return
    this.outgoing.push(update)
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null
      this.flush()
    }, this.batchMs)
  }

  /** POSTs everything queued as one update; one request at a time, in order. */
  private flush(): void {
    if (this.posting || this.outgoing.length === 0 || !this.synced || this.flushTimer) return
    const update = this.outgoing.length === 1 ? this.outgoing[0]! : Y.mergeUpdates(this.outgoing)
    this.outgoing = []
    this.posting = true
    const generation = this.generation
    void this.post('update', update)
      .then((failure) => {
        if (!failure) {
          this.postFailures = 0
          return
        }
        const status = failure.status
        if (this.destroyed) return
        if (status === undefined || status === 408 || status === 429 || status >= 500) {
          // Transient: send it again (before what was queued since), unless a newer sync's diff has it.
          if (generation !== this.generation) return
          this.outgoing.unshift(update)
          this.postFailures++
          if (this.flushTimer) clearTimeout(this.flushTimer)
          this.flushTimer = setTimeout(() => {
            this.flushTimer = null
            this.flush()
          }, Math.min(2 ** this.postFailures * 100, this.maxBackoffTime))
        } else if (status === 400) {
          // The server could not apply it (it lacks what it builds on): a new sync sends all it lacks.
          this.restart()
        }
        // 401, 403 (read-only), 409, 413: retrying would be refused again; reported by `post`.
      })
      .finally(() => {
        this.posting = false
        if (!this.destroyed) this.flush()
      })
  }

  /**
   * Only this client's own state is POSTed. Changes the stream brought count too: when the server
   * removes this client's state, y-protocols keeps it and moves its clock past the removal, which
   * must reach the server.
   */
  private readonly onAwarenessUpdate = ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }): void => {
    if (this.destroyed) return
    const id = this.doc.clientID
    if (added.includes(id) || updated.includes(id) || removed.includes(id)) this.scheduleAwareness()
  }

  private scheduleAwareness(): void {
    if (this.awarenessTimer) return
    const wait = Math.max(0, this.lastAwarenessPost + this.awarenessThrottleMs - Date.now())
    this.awarenessTimer = setTimeout(() => {
      this.awarenessTimer = null
      this.postAwareness()
    }, wait)
  }

  /** POSTs this client's awareness state (or its removal) for the open stream. */
  private postAwareness(): void {
    if (!this.streamId || !this.synced) return // sent after the next sync
    this.lastAwarenessPost = Date.now()
    void this.post('awareness', encodeAwarenessUpdate(this.awareness, [this.doc.clientID]), { stream: this.streamId })
  }

  /** One POST; resolves with the failure, reported as `connection-error`, or null. */
  private async post(path: 'update' | 'awareness', body: Uint8Array, query: Record<string, string> = {}): Promise<SseConnectionError | null> {
    const { token, ...params } = this.params
    let failure: SseConnectionError
    try {
      const response = await this.fetch(this.endpoint(path, { ...params, ...query }), {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', ...(token && { authorization: `Bearer ${token}` }) },
        body: body as Uint8Array<ArrayBuffer>,
      })
      if (response.ok) {
        await response.body?.cancel()
        return null
      }
      failure = { request: path, status: response.status, message: await errorMessage(response) }
    } catch (error) {
      failure = { request: path, message: error instanceof Error ? error.message : String(error) }
    }
    if (!this.destroyed) this.emit('connection-error', [failure, this])
    return failure
  }
}

/** The `message` of Quire's JSON error body, else the status text. */
async function errorMessage(response: Response): Promise<string> {
  try {
    const text = await response.text()
    const body = JSON.parse(text) as { message?: unknown }
    return typeof body.message === 'string' ? body.message : text
  } catch {
    return `${response.status} ${response.statusText}`
  }
}

function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** True for an update that changes nothing: no structs, no deletions. */
function isEmptyUpdate(update: Uint8Array): boolean {
  const { structs, ds } = Y.decodeUpdate(update)
  return structs.length === 0 && ds.clients.size === 0
}
