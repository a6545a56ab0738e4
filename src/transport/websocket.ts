/**
 * WebSocket transport: takes over HTTP upgrades on the Fastify server, maps the URL path to a
 * document, and pipes frames between the socket and its Room. Every upgrade under `basePath` is a
 * document, whatever HTTP routes exist, so any document name is reachable.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import type { FastifyInstance } from 'fastify'
import { CloseCode, ProtocolError, closeReason } from '../protocol/close-codes.js'
import { documentNameFromUrl } from '../protocol/document-name.js'
import { decodeClientMessage } from '../protocol/messages.js'
import { noTransportMetrics, type TransportMetrics } from '../metrics/hooks.js'
import type { Logger, Peer } from '../room/peer.js'
import type { Room } from '../room/room.js'
import type { RoomRegistry } from '../room/registry.js'
import { LimitError } from '../limits/limits.js'
import { isAwarenessEcho } from '../limits/awareness-echo.js'
import type { ConnectionGuard, SocketGuard } from '../limits/socket-guard.js'
import { authorizeConnection, selectProtocol, type ConnectionAuth } from '../auth/websocket-auth.js'

export interface WebSocketOptions {
  /** URL path under which every upgrade is a document (default `/`). */
  basePath: string
  /** Largest accepted frame; bigger frames close the socket with 1009. */
  maxFrameBytes: number
  /** Interval of WebSocket pings; a socket that missed the previous pong is terminated. */
  pingIntervalMs: number
  /** Receives connection, traffic and apply-time measurements. */
  metrics?: TransportMetrics
  /** Connection, message-rate and slow-consumer limits (limits/); absent: unlimited. */
  guard?: SocketGuard
  /** Token verification and permissions (auth/); absent: everyone may read and write. */
  auth?: ConnectionAuth
}

let nextConnectionId = 0

export function attachWebSocket(app: FastifyInstance, registry: RoomRegistry, options: WebSocketOptions): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes, perMessageDeflate: false, handleProtocols: selectProtocol })
  const alive = new WeakMap<WebSocket, boolean>()
  let accepting = true

  const base = options.basePath.endsWith('/') ? options.basePath : options.basePath + '/'
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = req.url ?? '/'
    if (!url.startsWith(base)) {
      // Not ours: leave it to another upgrade listener if there is one.
      if (app.server.listenerCount('upgrade') === 1) rejectUpgrade(socket, 404, 'Not Found')
      return
    }
    if (!accepting) return rejectUpgrade(socket, 503, 'Service Unavailable')
    wss.handleUpgrade(req, socket, head, (ws) => {
      explainFrameErrors(ws, options.maxFrameBytes)
      // Before the admission check: a refused socket may still error, and an unheard 'error' throws.
      ws.on('error', (error) => isFrameTooBig(error) && options.guard?.frameTooBig())
      const admitted = options.guard?.admit(req.socket.remoteAddress)
      if (admitted instanceof LimitError) return ws.close(admitted.code, closeReason(admitted.message))
      if (admitted) ws.once('close', admitted)
      alive.set(ws, true)
      ws.on('pong', () => alive.set(ws, true))
      serveConnection(ws, url, base, registry, app.log, options.metrics ?? noTransportMetrics, req, options.auth, options.guard?.connection())
    })
  }
  app.server.on('upgrade', onUpgrade)

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate()
        continue
      }
      alive.set(ws, false)
      ws.ping()
    }
  }, options.pingIntervalMs)
  heartbeat.unref()

  app.addHook('preClose', async () => {
    accepting = false
    clearInterval(heartbeat)
    app.server.off('upgrade', onUpgrade)
    await closeAll(wss)
  })
}

function serveConnection(
  ws: WebSocket,
  url: string,
  base: string,
  registry: RoomRegistry,
  appLog: Logger,
  metrics: TransportMetrics,
  req: IncomingMessage,
  auth: ConnectionAuth | undefined,
  limits: ConnectionGuard | undefined,
): void {
  const id = (++nextConnectionId).toString(36)
  const openedAt = performance.now()
  let bytesIn = 0
  let bytesOut = 0
  metrics.connectionOpened()
  ws.once('close', (code) => metrics.connectionClosed(code))
  let name: string
  try {
    name = documentNameFromUrl(url, base)
  } catch (error) {
    const reason = error instanceof ProtocolError ? error.message : 'invalid document name'
    appLog.info({ conn: id, code: CloseCode.badDocumentName, reason }, 'connection refused')
    ws.close(CloseCode.badDocumentName, closeReason(reason))
    return
  }
  // Logged with the fields of the child logger, without creating one per idle socket. At debug:
  // the close line carries everything (duration, bytes, code), and a reconnect storm should not
  // double the log volume.
  appLog.debug({ room: name, conn: id }, 'connection opened')
  // A child logger per connection costs memory on every idle socket; make it on first use.
  let childLog: Logger | undefined
  const log = (): Logger => (childLog ??= (appLog as unknown as { child(b: object): Logger }).child({ room: name, conn: id }))
  const peer: Peer = {
    id,
    send: (message) => {
      if (ws.readyState !== WebSocket.OPEN) return
      const tooSlow = limits?.send(ws.bufferedAmount, message.byteLength)
      if (tooSlow) return refuse(tooSlow)
      ws.send(message)
      bytesOut += message.byteLength
      metrics.sent(message)
    },
    close: (code, reason) => {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, closeReason(reason))
    },
  }
  let room: Room | null = null
  let closed = false
  const queued: Array<{ data: RawData; isBinary: boolean }> = []
  /** Closes the connection for a limit checked here (rate, slow consumer). */
  const refuse = (error: LimitError): void => {
    if (closed) return
    closed = true
    limits?.rejected(error)
    log().warn({ code: error.code, reason: error.message }, 'closing connection: limit reached')
    peer.close(error.code, error.message)
    // The room may be iterating its peers (a broadcast): leave once it is done.
    queueMicrotask(() => room?.leave(peer))
  }

  const handle = (data: RawData, isBinary: boolean): void => {
    if (closed || !room) return
    const bytes = toBytes(data)
    let decoded = false
    try {
      if (!isBinary) throw new ProtocolError(CloseCode.unsupportedData, 'text frames are not supported')
      const message = decodeClientMessage(bytes)
      decoded = true
      const overRate = limits?.message(message.type === 'awareness' && isAwarenessEcho(message.update, room.awareness))
      if (overRate) throw overRate
      metrics.received(message.type, bytes.byteLength)
      if (message.type === 'update' || message.type === 'sync-step2') {
        const start = performance.now()
        room.receive(peer, message)
        metrics.updateApplied((performance.now() - start) / 1000)
      } else {
        room.receive(peer, message)
      }
    } catch (error) {
      if (!decoded) metrics.received('invalid', bytes.byteLength)
      limits?.rejected(error)
      closed = true
      room.leave(peer)
      if (error instanceof ProtocolError) {
        log().warn({ code: error.code, reason: error.message }, 'closing connection after a bad frame')
        peer.close(error.code, error.message)
      } else {
        log().error({ err: error }, 'unexpected error while handling a frame')
        peer.close(CloseCode.internalError, 'internal error')
      }
    }
  }

  ws.on('message', (data, isBinary) => {
    bytesIn += Array.isArray(data) ? data.reduce((n, b) => n + b.byteLength, 0) : data.byteLength
    if (room) handle(data, isBinary)
    else queued.push({ data, isBinary }) // frames wait until the document is loaded
  })
  ws.on('close', (code, reason) => {
    closed = true
    room?.leave(peer)
    const durationMs = Math.round(performance.now() - openedAt)
    const fields = { room: name, conn: id, code, reason: reason.toString() || undefined, durationMs, bytesIn, bytesOut }
    appLog.info(fields, 'connection closed')
  })
  ws.on('error', (error) => log().warn({ err: error }, 'websocket error'))

  // The token is checked before the room is joined, so a rejected client never receives content.
  const onClose = (listener: () => void) => (closed ? listener() : ws.once('close', listener))
  const admitted = auth ? authorizeConnection(auth, req, name, peer, onClose, log) : Promise.resolve(true)
  void admitted.then((ok) => {
    if (!ok || closed) return
    return registry.join(name, peer).then(
      (joined) => {
        room = joined
        if (closed) return joined.leave(peer)
        for (const frame of queued.splice(0)) handle(frame.data, frame.isBinary)
      },
      (error: unknown) => {
        if (error instanceof LimitError) {
          limits?.rejected(error)
          return peer.close(error.code, error.message)
        }
        log().error({ err: error }, 'could not load document')
        peer.close(CloseCode.internalError, 'could not load document')
      },
    )
  })
}

/**
 * `ws` rejects oversized or broken frames itself and closes with a bare code, before any
 * listener runs. Give those closes a reason the client can read, like every other close.
 */
function explainFrameErrors(ws: WebSocket, maxFrameBytes: number): void {
  const close = ws.close.bind(ws)
  ws.close = (code?: number, reason?: string | Buffer) => close(code, reason ?? frameErrorReason(code, maxFrameBytes))
}

function frameErrorReason(code: number | undefined, maxFrameBytes: number): string | undefined {
  switch (code) {
    case CloseCode.messageTooBig:
      return `frame larger than ${maxFrameBytes} bytes`
    case CloseCode.protocolError:
      return 'invalid WebSocket frame'
    case CloseCode.invalidPayload:
      return 'invalid UTF-8 in text frame'
    default:
      return undefined
  }
}

/** `ws` reports a frame over maxPayload as an error before closing with 1009. */
function isFrameTooBig(error: Error): boolean {
  return (error as NodeJS.ErrnoException).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data)
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/** Sends 1001 to every socket and waits (briefly) for the closing handshakes. */
async function closeAll(wss: WebSocketServer): Promise<void> {
  const sockets = [...wss.clients]
  const closed = sockets.map((ws) => new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve()
    ws.once('close', () => resolve())
    ws.close(CloseCode.goingAway, 'server shutting down')
  }))
  const grace = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())
  await Promise.race([Promise.all(closed), grace])
  for (const ws of sockets) if (ws.readyState !== WebSocket.CLOSED) ws.terminate()
  await new Promise<void>((resolve) => wss.close(() => resolve()))
}
