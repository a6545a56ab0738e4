/**
 * A lightweight load-generation client for two framings of the Yjs sync protocol: `ws` +
 * y-protocols' message numbers + lib0 encoding, one Y.Doc per client, no provider, no awareness,
 * no reconnects. Thousands fit in one process.
 *
 * y-websocket framing (Quire, the reference server, the floor): one document per socket, named by
 * the URL path; every frame is binary, `varUint messageType, …`.
 *   [0, 0, stateVector]  SyncStep1      [0, 1, update] SyncStep2      [0, 2, update] Update
 *   [1, awarenessUpdate]                 [2, 0, reason] auth: permission denied
 *
 * Hocuspocus framing (`protocol: 'hocuspocus'`): the socket connects to the server's root URL and
 * every frame starts with the document's name, `varString name, varUint messageType, …`, so one
 * socket could carry several documents (this client uses one). Types 0 (Sync) and 1 (Awareness)
 * carry the same payloads as above; the others:
 *   client → server  [name, 2, 0, token]  Auth (Token): must come first; the server queues
 *                    everything else for the document until its onAuthenticate hooks passed
 *   server → client  [name, 2, 2, scope]  Authenticated     [name, 2, 1, reason] PermissionDenied
 *                    [name, 2, 0]         TokenSync request (answered with the token again)
 *                    [name, 8, 0|1]       SyncStatus: one per SyncStep2 or Update the client sent,
 *                                         in order; 1 = applied ("saved") by the server
 *                    [name, 3]  QueryAwareness     [name, 5, string] Stateless
 *                    [name, 7, reason]   CLOSE: the server closed this document on the socket
 *                    [9]                 connection-level Ping, no name (answered with [10] Pong)
 * Hocuspocus echoes updates to their sender too, but merges what arrives within one event-loop
 * turn into one broadcast: to count "the server has my update" per update, use its SyncStatus
 * (`onAck`), not the echo frames.
 *
 * Handshake: on open the client sends its SyncStep1 (Hocuspocus: after the Auth message); it
 * answers the server's SyncStep1 with a SyncStep2; `synced` resolves when the server's SyncStep2
 * has been applied. Against a relay that does no sync (the bench's floor), `handshake: false`
 * sends no SyncStep1, ignores SyncStep1s from peers and counts as synced once the socket is open.
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
// Hocuspocus only:
export const MSG_QUERY_AWARENESS = 3
export const MSG_SYNC_REPLY = 4 // a Sync message that must not trigger another SyncStep1
export const MSG_STATELESS = 5
export const MSG_CLOSE = 7
export const MSG_SYNC_STATUS = 8
export const MSG_PING = 9
export const MSG_PONG = 10
export const AUTH_TOKEN = 0
export const AUTH_PERMISSION_DENIED = 1
export const AUTH_AUTHENTICATED = 2

export const SYNC_STEP1 = 0
export const SYNC_STEP2 = 1
export const SYNC_UPDATE = 2

/** The framings BenchClient speaks (see above). */
export const PROTOCOLS = ['y-websocket', 'hocuspocus']

const REMOTE = Symbol('remote')
const MARK_RE = /([A-Za-z0-9_-]+):(\d+);/g

/** A Sync frame; with `address` (Hocuspocus) prefixed with the document's name. */
export function encodeSync(subtype, payload, address = null) {
  const e = encoding.createEncoder()
  if (address !== null) encoding.writeVarString(e, address)
  encoding.writeVarUint(e, MSG_SYNC)
  encoding.writeVarUint(e, subtype)
  encoding.writeVarUint8Array(e, payload)
  return encoding.toUint8Array(e)
}

/** Hocuspocus' Auth (Token) message for the document `address`. */
export function encodeAuth(address, token) {
  const e = encoding.createEncoder()
  encoding.writeVarString(e, address)
  encoding.writeVarUint(e, MSG_AUTH)
  encoding.writeVarUint(e, AUTH_TOKEN)
  encoding.writeVarString(e, token)
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
 * @property {string} room document name (y-websocket: URL-encoded into the path; Hocuspocus: the
 *   name prefixed to every frame)
 * @property {'y-websocket' | 'hocuspocus'} [protocol] framing (default y-websocket)
 * @property {string} [token] Hocuspocus: the Auth message's token (default ''; any token passes
 *   a server without an onAuthenticate hook)
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
 * @property {(arrivedAt: number, sentAt: number, client: BenchClient, applied: boolean) => void} [onAck]
 * @property {(update: Uint8Array, arrivedAt: number, client: BenchClient) => void} [onAwareness] each awareness
 *   update received (the y-protocols encoding, without the message type)
 *   Hocuspocus: called for the server's SyncStatus of each Update this client sent (not for the
 *   one answering the handshake's SyncStep2), with that Update's send time
 */

export class BenchClient {
  /** @param {ClientOptions} options */
  constructor(options) {
    this.id = options.id ?? Math.random().toString(36).slice(2, 8)
    this.room = options.room
    this.protocol = options.protocol ?? 'y-websocket'
    if (!PROTOCOLS.includes(this.protocol)) throw new Error(`unknown protocol ${this.protocol}; known: ${PROTOCOLS.join(', ')}`)
    const hocuspocus = this.protocol === 'hocuspocus'
    const base = options.url.replace(/\/$/, '')
    this.url = hocuspocus ? `${base}/` : `${base}/${encodeURIComponent(options.room)}`
    /** Hocuspocus: the document name every frame starts with; null for y-websocket framing. */
    this.address = hocuspocus ? options.room : null
    this.token = options.token ?? ''
    this.ownDoc = !options.doc
    this.doc = options.doc ?? new Y.Doc()
    this.handshake = options.handshake ?? true
    this.apply = options.apply ?? true
    this.text = this.doc.getText(options.textName ?? 'text')
    this.onMark = options.onMark
    this.onUpdate = options.onUpdate
    this.onAck = options.onAck
    this.onAwareness = options.onAwareness
    this.isSynced = false
    /** Hocuspocus: the server accepted the Auth message (its Authenticated reply arrived). */
    this.authenticated = false
    /** Hocuspocus: reason of a CLOSE message (the server closed the document on this socket). */
    this.documentClosed = null
    // Hocuspocus: per SyncStep2/Update sent and not yet answered by a SyncStatus, its send time
    // (-1 for the handshake's SyncStep2); a queue read from _ackHead.
    this._unacked = []
    this._ackHead = 0
    /** Per Update sent, a [client, clock] it reached; `_echoHead` indexes the first not yet echoed. */
    this.sentClocks = []
    this._echoHead = 0
    this._ownClock = 0
    /** Highest clock per client seen in update frames received (onConfirmed). */
    this.echoedClocks = new Map()
    /** Writer ids this client has sent marks as; their echoes are reported with own = true. */
    this.markWriters = new Set()
    this.closed = false
    this.closeCode = null
    this.error = null
    /** Arrival time (performance.now()) of the frame being processed. */
    this.arrivedAt = 0
    this.stats = {
      framesIn: 0, bytesIn: 0, updatesIn: 0, framesOut: 0, bytesOut: 0, updatesOut: 0, awarenessIn: 0, authIn: 0,
      // Hocuspocus: SyncStatus answers to this client's Updates (rejected: applied = false), and
      // frames for other documents or of types this client has no use for (QueryAwareness, Stateless).
      acksIn: 0, acksRejected: 0, otherIn: 0,
    }
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
      // A (client, clock) the update reached: an echo reaching it confirms the update (onConfirmed).
      // This client's own clock when the update advanced it (cheap); else one the update holds
      // (content authored elsewhere, as a seeder's), or the current one (a deletion only).
      const own = Y.getState(this.doc.store, this.doc.clientID)
      if (own > this._ownClock) this.sentClocks.push([this.doc.clientID, (this._ownClock = own)])
      else this.sentClocks.push(Y.parseUpdateMeta(update).to.entries().next().value ?? [this.doc.clientID, own])
      this._sendSync(SYNC_UPDATE, update)
    }
    this.doc.on('update', this._onDocUpdate)

    const ws = new WebSocket(this.url, { perMessageDeflate: false })
    ws.binaryType = 'nodebuffer'
    this.ws = ws
    ws.on('open', () => {
      this.openedAt = performance.now()
      if (this.address !== null) this.send(encodeAuth(this.address, this.token))
      if (this.handshake) this._sendSync(SYNC_STEP1, Y.encodeStateVector(this.doc))
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
    if (this.address !== null && bytes.length === 1 && bytes[0] === MSG_PING) {
      this.send(Uint8Array.of(MSG_PONG)) // Hocuspocus' connection-level ping: no document name
      return
    }
    const d = decoding.createDecoder(bytes)
    if (this.address !== null && decoding.readVarString(d) !== this.address) {
      this.stats.otherIn++ // another document on the same socket: not this client's
      return
    }
    const type = decoding.readVarUint(d)
    if (type === MSG_SYNC || (type === MSG_SYNC_REPLY && this.address !== null)) {
      const subtype = decoding.readVarUint(d)
      const payload = decoding.readVarUint8Array(d)
      if (subtype === SYNC_STEP1) {
        if (this.handshake) this._sendSync(SYNC_STEP2, Y.encodeStateAsUpdate(this.doc, payload))
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
      if (this.onAwareness) this.onAwareness(decoding.readVarUint8Array(d), this.arrivedAt, this)
    } else if (type === MSG_AUTH) {
      this.stats.authIn++
      if (this.address === null) {
        const denied = decoding.readVarUint(d) === 0 ? decoding.readVarString(d) : ''
        this.error ??= new Error(`permission denied: ${denied}`)
        return
      }
      const subtype = decoding.readVarUint(d)
      if (subtype === AUTH_AUTHENTICATED) this.authenticated = true
      else if (subtype === AUTH_TOKEN) this.send(encodeAuth(this.address, this.token)) // the server asks for it again
      else if (subtype === AUTH_PERMISSION_DENIED) {
        const error = new Error(`permission denied: ${decoding.readVarString(d)}`)
        this.error ??= error
        this._rejectSynced(error)
      }
    } else if (this.address === null) {
      // y-websocket framing: nothing else is defined; ignored like the provider does
    } else if (type === MSG_SYNC_STATUS) {
      this._acked(decoding.readVarUint(d) === 1)
    } else if (type === MSG_CLOSE) {
      this.documentClosed = decoding.readVarString(d)
      this._rejectSynced(new Error(`client ${this.id} (${this.room}): the server closed the document: ${this.documentClosed}`))
      // The socket carries only this document: a provider would reconnect, this client is done.
      if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000)
    } else {
      this.stats.otherIn++ // QueryAwareness (no awareness state to answer with), Stateless, …
    }
  }

  /** Sends a Sync frame; Hocuspocus answers every SyncStep2 and Update with one SyncStatus. */
  _sendSync(subtype, payload) {
    const sent = this.send(encodeSync(subtype, payload, this.address))
    if (sent && this.address !== null && subtype !== SYNC_STEP1) this._unacked.push(subtype === SYNC_UPDATE ? performance.now() : -1)
    return sent
  }

  _acked(applied) {
    if (this._ackHead >= this._unacked.length) return void this.stats.otherIn++ // nothing outstanding
    const sentAt = this._unacked[this._ackHead++]
    if (this._ackHead > 1024 && this._ackHead * 2 > this._unacked.length) {
      this._unacked = this._unacked.slice(this._ackHead)
      this._ackHead = 0
    }
    if (sentAt < 0) return // the handshake's SyncStep2
    this.stats.acksIn++
    if (!applied) this.stats.acksRejected++
    this.onAck?.(this.arrivedAt, sentAt, this, applied)
  }

  /** Hocuspocus: Updates sent and not yet answered by a SyncStatus. */
  get unacked() {
    return this._unacked.length - this._ackHead
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
 * Client options that call `confirmed(arrivedAt)` once for every update of this client that the
 * server confirmed having: on Hocuspocus its SyncStatus answer (one per update, in order), on the
 * others the echo of the update — an update frame holding this client's changes up to that
 * update's clock (servers may merge several updates into one frame: Quire relays the updates of
 * one commit together). The handshake's SyncStep2 is not a confirmation on either.
 * @param {'y-websocket' | 'hocuspocus'} protocol
 * @param {(arrivedAt: number) => void} confirmed
 * @returns {Partial<ClientOptions>}
 */
export function onConfirmed(protocol, confirmed) {
  if (protocol === 'hocuspocus') return { onAck: (arrivedAt) => confirmed(arrivedAt) }
  return {
    onUpdate: (update, arrivedAt, client) => {
      if (!client.isSynced) return
      const echoed = client.echoedClocks
      for (const [id, clock] of Y.parseUpdateMeta(update).to) if (clock > (echoed.get(id) ?? 0)) echoed.set(id, clock)
      const sent = client.sentClocks
      while (client._echoHead < sent.length && (echoed.get(sent[client._echoHead][0]) ?? 0) >= sent[client._echoHead][1]) {
        client._echoHead++
        confirmed(arrivedAt)
      }
    },
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
