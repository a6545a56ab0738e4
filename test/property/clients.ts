/**
 * The client side of a run: real y-websocket providers (one Y.Doc each), wrapped to report every
 * document payload the server sends them before they apply it, plus a record of the connections
 * the server closed on them, and the client verbs of a scenario (go offline, come back, keep
 * typing while reconnecting). Both records feed checks: the server sends only what is committed,
 * so every recorded payload must survive any restart; and a server that refuses or drops a
 * well-behaved client (1007, 1008, 1011, 1013, 44xx, or a socket cut while it is up) fails the run.
 */
import WebSocket from 'ws'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { withTimeout } from '../helpers.js'

/** Where providers point while no server is up: connections are refused at once (1006). */
export const NO_SERVER = 'ws://127.0.0.1:1'
const SYNC = 0

/**
 * A real y-websocket provider that reports every SyncStep2 and Update payload the server sends it,
 * before the provider applies it. Not connected yet.
 */
export function recordingProvider(
  url: string,
  room: string,
  doc: Y.Doc,
  onServerUpdate: (type: number, update: Uint8Array) => void,
): WebsocketProvider {
  const p = new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
    maxBackoffTime: 300,
    connect: false,
  })
  const sync = p.messageHandlers[SYNC]!
  p.messageHandlers[SYNC] = (encoder, decoder, prov, emitSynced, messageType) => {
    const peek = decoding.createDecoder(decoder.arr)
    peek.pos = decoder.pos
    const type = decoding.readVarUint(peek)
    if (type === syncProtocol.messageYjsSyncStep2 || type === syncProtocol.messageYjsUpdate) {
      onServerUpdate(type, decoding.readVarUint8Array(peek))
    }
    sync(encoder, decoder, prov, emitSynced, messageType)
  }
  return p
}

/**
 * Connections closed for another reason than a server going away. A close is expected only with
 * 1001 (shutting down) or 1006 (no close frame) from a server the run is stopping or has killed,
 * or 1006 from NO_SERVER; `null` events are our own disconnects. Anything else fails the run:
 * the clients here are well-behaved (an early update that builds on offline edits is dropped by
 * the server, not refused), and the limits that could refuse them are off (world.ts).
 */
export class CloseLog {
  readonly unexpected: string[] = []
  /** Base URLs (ws://host:port) of servers told to stop or killed; their closes are expected. */
  private readonly stopping = new Set<string>([NO_SERVER])

  stopped(serverUrl: string): void {
    this.stopping.add(serverUrl)
  }

  watch(p: WebsocketProvider, who: string): void {
    p.on('connection-close', (event) => {
      if (!event) return
      const { code, reason, target } = event as unknown as { code: number; reason: string; target?: { url?: string } }
      const url = target?.url ?? ''
      const fromStoppingServer = [...this.stopping].some((base) => url.startsWith(base + '/'))
      if (fromStoppingServer && (code === 1001 || code === 1006)) return
      this.unexpected.push(`${who} (${url}): close ${code} ${JSON.stringify(reason)}`)
    })
  }

  assertNone(): void {
    if (this.unexpected.length > 0) throw new Error(`the server closed connections it should have kept: ${this.unexpected.join('; ')}`)
  }
}

export function statusConnected(p: WebsocketProvider, timeoutMs = 10_000): Promise<void> {
  if (p.wsconnected) return Promise.resolve()
  return withTimeout(
    new Promise<void>((resolve) => {
      const on = (event: { status: string }) => {
        if (event.status !== 'connected') return
        p.off('status', on)
        resolve()
      }
      p.on('status', on)
    }),
    timeoutMs,
    `${p.roomname}: provider to connect`,
  )
}

export function synced(p: WebsocketProvider, what: string, timeoutMs = 10_000): Promise<void> {
  if (p.synced) return Promise.resolve()
  return withTimeout(
    new Promise<void>((resolve) => {
      const on = (state: boolean) => {
        if (!state) return
        p.off('sync', on)
        resolve()
      }
      p.on('sync', on)
    }),
    timeoutMs,
    `${what} to sync`,
  )
}

export interface Client {
  readonly id: number
  readonly name: string
  readonly doc: Y.Doc
  readonly provider: WebsocketProvider
  /** What the scenario wants: connected (to whatever server is up) or not. */
  online: boolean
}

/** The run's clients, what the server sent them, and how their connections ended. */
export class Clients {
  readonly list: Client[]
  /** Per document: every SyncStep2/Update payload the server sent to any provider (clients, monitors, readers). */
  readonly echoed = new Map<string, Uint8Array[]>()
  readonly closes = new CloseLog()
  /** Called right after any provider recorded a payload from the server, before it applies it. */
  onEcho: (() => void) | null = null

  constructor(placement: string[]) {
    for (const name of placement) this.echoed.set(name, [])
    this.list = placement.map((name, id) => {
      const doc = new Y.Doc()
      const provider = recordingProvider(NO_SERVER, name, doc, this.recorder(name))
      this.closes.watch(provider, `c${id}`)
      return { id, name, doc, provider, online: true }
    })
  }

  /** Records a provider's payloads from the server as echoes of document `name`. */
  recorder(name: string): (type: number, update: Uint8Array) => void {
    const list = this.echoed.get(name)!
    return (_type, update) => {
      list.push(update)
      this.onEcho?.()
    }
  }

  /** Where every client connects from now on; connections already open stay open. */
  pointAt(url: string): void {
    for (const c of this.list) c.provider.serverUrl = url
  }

  /** Connects the clients that are online but have no socket; resolves once they are all synced. */
  async syncOnline(): Promise<void> {
    for (const c of this.list) if (c.online && c.provider.ws === null) c.provider.connect()
    for (const c of this.list) if (c.online) await synced(c.provider, `client c${c.id}`)
  }

  disconnect(c: Client): void {
    if (!c.online) return
    c.online = false
    c.provider.disconnect()
  }

  /** Connects and resolves once the socket is open (not synced: edits may follow before the sync). */
  async reconnect(c: Client): Promise<void> {
    if (c.online) return
    c.online = true
    c.provider.connect()
    await statusConnected(c.provider)
  }

  /**
   * Like a user who keeps typing while the editor reconnects: goes offline if needed, types one
   * character offline (so the server lacks something), connects, and types a character every 2 ms
   * (at most 100) until the provider is synced; then waits for the sync. The server drops what
   * arrives before the client's SyncStep2 and builds on the offline character (that SyncStep2
   * brings it all); it must not close the connection.
   */
  async reconnectTyping(c: Client, at: number): Promise<void> {
    this.disconnect(c)
    const text = c.doc.getText('t')
    let index = Math.round((at / 100) * text.length)
    text.insert(index++, 'o')
    c.online = true
    c.provider.connect()
    for (let n = 0; n < 100 && !c.provider.synced; n++) {
      text.insert(index++, 'k')
      await new Promise((resolve) => setTimeout(resolve, 2)) // typing pace, not synchronisation
    }
    await synced(c.provider, `client c${c.id}`)
  }

  destroy(): void {
    for (const c of this.list) {
      c.provider.destroy()
      c.doc.destroy()
    }
  }
}
