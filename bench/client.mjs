/**
 * A lightweight y-websocket protocol client for load generation: `ws` + y-protocols' message
 * numbers + lib0 encoding, one Y.Doc per client, no provider, no awareness, no reconnects.
 * Thousands fit in one process.
 *
 * Protocol (y-websocket): every frame is binary, `varUint messageType, …`.
 *   [0, 0, stateVector]  SyncStep1      [0, 1, update] SyncStep2      [0, 2, update] Update
 *   [1, awarenessUpdate]                 [2, 0, reason] auth: permission denied
 *
 * Handshake: on open the client sends its SyncStep1; it answers the server's SyncStep1 with a
 * SyncStep2; `synced` resolves when the server's SyncStep2 has been applied. Against a relay that
 * does no sync (the bench's floor), `handshake: false` sends no SyncStep1, ignores SyncStep1s
 * from peers and counts as synced once the socket is open.
 *
 * Latency marks: `sendMark(writerId, seq)` appends `<writerId>:<seq>;` to the shared Y.Text and
 * records the send time in a `MarkClock` shared by every client of the process (same clock:
 * performance.now()). A client receiving an update whose inserted strings contain marks calls
 * `onMark` with the frame's arrival time, so latency = arrival − send, measured at the receiver.
 */
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

export const MSG_SYNC = 0
export const MSG_AWARENESS = 1
export const MSG_AUTH = 2
export const SYNC_STEP1 = 0
export const SYNC_STEP2 = 1
export const SYNC_UPDATE = 2

const REMOTE = Symbol('remote')
const MARK_RE = /([A-Za-z0-9_-]+):(\d+);/g

export function encodeSync(subtype, payload) {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MSG_SYNC)
  encoding.writeVarUint(e, subtype)
  encoding.writeVarUint8Array(e, payload)
  return encoding.toUint8Array(e)
}

/** Send times of marks, keyed `writerId:seq`. Shared by all clients in the process. */
export class MarkClock {
  constructor() {
    /** @type {Map<string, number>} */
    this.sent = new Map()
  }
  stamp(key) {
    const t = performance.now()
    this.sent.set(key, t)
    return t
  }
  sentAt(key) {
    return this.sent.get(key)
  }
}

/**
 * @typedef {object} ClientOptions
 * @property {string} url server base, e.g. ws://127.0.0.1:1234
 * @property {string} room document name (URL-encoded into the path)
 * @property {string} [id] label used in marks and errors
 * @property {string} [textName] Y.Text name (default 'text')
 * @property {number} [syncTimeoutMs] reject `synced` after this long (default 30 s)
 * @property {Y.Doc} [doc] use this document (e.g. to reconnect with an offline client's state);
 *   close() then leaves it alive
 * @property {boolean} [handshake] false: no sync handshake (relays without sync); default true
 * @property {boolean} [apply] false: received updates are counted, not applied (a client that
 *   only measures arrival, so the bench process does not spend its CPU on applying them)
 * @property {(key: string, arrivedAt: number, client: BenchClient, own: boolean) => void} [onMark]
 *   called for every mark found in a received update (SyncStep2 or Update); `own` is true for
 *   the echo of a mark this client sent itself
 * @property {(update: Uint8Array, arrivedAt: number, client: BenchClient) => void} [onUpdate]
 *   called for every update frame (SyncStep2 or Update) received, before it is applied
 */

export class BenchClient {
  /** @param {ClientOptions} options */
  constructor(options) {
    this.id = options.id ?? Math.random().toString(36).slice(2, 8)
    this.room = options.room
    this.url = `${options.url.replace(/\/$/, '')}/${encodeURIComponent(options.room)}`
    this.ownDoc = !options.doc
    this.doc = options.doc ?? new Y.Doc()
    this.handshake = options.handshake ?? true
    this.apply = options.apply ?? true
    this.text = this.doc.getText(options.textName ?? 'text')
    this.onMark = options.onMark
    this.onUpdate = options.onUpdate
    this.isSynced = false
    /** Writer ids this client has sent marks as; their echoes are reported with own = true. */
    this.markWriters = new Set()
    this.closed = false
    this.closeCode = null
    this.error = null
    /** Arrival time (performance.now()) of the frame being processed. */
    this.arrivedAt = 0
    this.stats = { framesIn: 0, bytesIn: 0, updatesIn: 0, framesOut: 0, bytesOut: 0, updatesOut: 0, awarenessIn: 0, authIn: 0 }
    this.connectStartedAt = performance.now()
    /** performance.now() when the server's SyncStep2 was applied / had arrived. */
    this.syncedAt = 0
    this.syncStep2ArrivedAt = 0
    this.syncStep2Bytes = 0

    let resolveSynced, rejectSynced
    this.synced = new Promise((res, rej) => {
      resolveSynced = res
      rejectSynced = rej
    })
    this.synced.catch(() => {}) // callers that never await must not crash the process
    this._resolveSynced = resolveSynced
    this._rejectSynced = rejectSynced
    const syncTimer = setTimeout(
      () => rejectSynced(new Error(`client ${this.id} (${this.room}) not synced after ${options.syncTimeoutMs ?? 30000} ms`)),
      options.syncTimeoutMs ?? 30_000,
    )
    this.synced.then(() => clearTimeout(syncTimer), () => clearTimeout(syncTimer))

    this.closedPromise = new Promise((res) => (this._resolveClosed = res))

    // Local changes (origin !== REMOTE) go out as Update messages.
    this._onDocUpdate = (update, origin) => {
      if (origin === REMOTE) return
      this.stats.updatesOut++
      this.send(encodeSync(SYNC_UPDATE, update))
    }
    this.doc.on('update', this._onDocUpdate)

    const ws = new WebSocket(this.url, { perMessageDeflate: false })
    ws.binaryType = 'nodebuffer'
    this.ws = ws
    ws.on('open', () => {
      this.openedAt = performance.now()
      if (this.handshake) this.send(encodeSync(SYNC_STEP1, Y.encodeStateVector(this.doc)))
      else this._markSynced(0)
    })
    ws.on('message', (data, isBinary) => {
      this.arrivedAt = performance.now()
      this.stats.framesIn++
      this.stats.bytesIn += data.length
      if (!isBinary) return
      try {
        this._handle(data)
      } catch (error) {
        this.error ??= error
        ws.terminate()
      }
    })
    ws.on('error', (error) => {
      this.error ??= error
      rejectSynced(error)
    })
    ws.on('close', (code, reason) => {
      this.closed = true
      this.closeCode = code
      this.closeReason = reason.toString()
      rejectSynced(new Error(`client ${this.id} closed before sync: ${code} ${this.closeReason}`))
      this._resolveClosed()
    })
  }

  _handle(data) {
    // A view (no copy); lib0 honours byteOffset. Payloads are views too: applyUpdate copies.
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    const d = decoding.createDecoder(bytes)
    const type = decoding.readVarUint(d)
    if (type === MSG_SYNC) {
      const subtype = decoding.readVarUint(d)
      const payload = decoding.readVarUint8Array(d)
      if (subtype === SYNC_STEP1) {
        if (this.handshake) this.send(encodeSync(SYNC_STEP2, Y.encodeStateAsUpdate(this.doc, payload)))
      } else if (subtype === SYNC_STEP2 || subtype === SYNC_UPDATE) {
        this.stats.updatesIn++
        this.onUpdate?.(payload, this.arrivedAt, this)
        if (this.onMark) this._scanMarks(payload)
        if (this.apply) Y.applyUpdate(this.doc, payload, REMOTE)
        if (subtype === SYNC_STEP2 && !this.isSynced) this._markSynced(payload.byteLength)
      } else {
        throw new Error(`unknown sync subtype ${subtype}`)
      }
    } else if (type === MSG_AWARENESS) {
      this.stats.awarenessIn++
    } else if (type === MSG_AUTH) {
      this.stats.authIn++
      const denied = decoding.readVarUint(d) === 0 ? decoding.readVarString(d) : ''
      this.error ??= new Error(`permission denied: ${denied}`)
    }
  }

  _markSynced(step2Bytes) {
    this.isSynced = true
    this.syncStep2ArrivedAt = this.arrivedAt || performance.now()
    this.syncStep2Bytes = step2Bytes
    this.syncedAt = performance.now()
    this._resolveSynced()
  }

  /**
   * Finds marks in the inserted strings of an update without touching the document. (Y.Text's
   * observe-event `delta` walks the whole text on every event: O(length) per update, which made
   * the load generator itself the bottleneck.)
   */
  _scanMarks(update) {
    const { structs } = Y.decodeUpdate(update)
    for (const struct of structs) {
      const str = struct.content?.str
      if (typeof str !== 'string') continue
      MARK_RE.lastIndex = 0
      let m
      let guard = 0
      while ((m = MARK_RE.exec(str)) !== null && guard++ < 10_000) {
        this.onMark(`${m[1]}:${m[2]}`, this.arrivedAt, this, this.markWriters.has(m[1]))
      }
    }
  }

  /** Sends one raw frame if the socket is open. */
  send(frame) {
    if (this.ws.readyState !== WebSocket.OPEN) return false
    this.stats.framesOut++
    this.stats.bytesOut += frame.byteLength
    this.ws.send(frame)
    return true
  }

  /** Bytes queued in the socket but not yet handed to the kernel. */
  get bufferedAmount() {
    return this.ws.bufferedAmount
  }

  /** Inserts `str` at `index` (default: the end) as one transaction → one Update message. */
  insert(str, index = this.text.length) {
    this.text.insert(index, str)
  }

  /**
   * Appends the mark `<writerId>:<seq>;`, stamping its send time in `clock` just before the frame
   * is written to the socket (the doc's update handler sends synchronously inside insert()).
   */
  sendMark(clock, writerId, seq) {
    const key = `${writerId}:${seq}`
    this.markWriters.add(writerId)
    clock.stamp(key)
    this.insert(`${key};`)
    return key
  }

  /** Closes the socket and resolves once it is closed (terminates after `timeoutMs`). */
  async close(timeoutMs = 2000) {
    if (!this.closed) {
      if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close(1000)
      const timer = setTimeout(() => this.ws.terminate(), timeoutMs)
      await this.closedPromise
      clearTimeout(timer)
    }
    this.doc.off('update', this._onDocUpdate)
    if (this.ownDoc && !this.doc.isDestroyed) this.doc.destroy()
  }
}

/**
 * Connects `count` clients with at most `concurrency` handshakes in flight, resolving when all
 * are synced. `make(i)` returns the ClientOptions for client i.
 * @returns {Promise<BenchClient[]>}
 */
export async function connectMany(count, make, { concurrency = 50 } = {}) {
  const clients = new Array(count)
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      const client = new BenchClient(make(i))
      clients[i] = client
      await client.synced
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  } catch (error) {
    await closeAll(clients.filter(Boolean))
    throw error
  }
  return clients
}

export async function closeAll(clients) {
  await Promise.all(clients.map((c) => c.close().catch(() => {})))
}
