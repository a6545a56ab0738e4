/**
 * WebSocket transport: takes over HTTP upgrades on the Fastify server, maps the URL path to a
 * document, and pipes frames between the socket and its Room. Every upgrade under `basePath` is a
 * document, whatever HTTP routes exist, so any document name is reachable.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import type { FastifyInstance } from 'fastify'
import { CLOSE_ERRORS, CloseCode, ProtocolError, closeReason, type CloseErrorCode } from '../protocol/close-codes.js'
import { documentNameFromUrl } from '../protocol/document-name.js'
import { noTransportMetrics, type TransportMetrics } from '../metrics/hooks.js'
import type { Logger } from '../room/peer.js'
import type { RoomRegistry } from '../room/registry.js'
import { clientAddress } from '../limits/client-address.js'
import { LimitError } from '../limits/limits.js'
import type { SocketGuard } from '../limits/socket-guard.js'
import { authorizeConnection, selectProtocol, type ConnectionAuth } from '../auth/websocket-auth.js'
import { Connection, type Wire } from './connection.js'
import { HocuspocusSocket } from './hocuspocus.js'

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
  /** The Origin allow-list (auth/origins.ts): (Origin header, Host header) → may connect. */
  originAllowed?: (origin: string | undefined, host: string | undefined) => boolean
  /** Which forwarding proxies to believe for the client's address (limits/client-address.ts); default none. */
  trustProxy?: (address: string, hop: number) => boolean
  /** Documents one Hocuspocus connection may have open at once (limits/limits.ts); 0 or absent: no cap. */
  maxDocumentsPerConnection?: number
}

let nextConnectionId = 0

export function attachWebSocket(app: FastifyInstance, registry: RoomRegistry, options: WebSocketOptions): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes, perMessageDeflate: false, handleProtocols: selectProtocol })
  const alive = new WeakMap<WebSocket, boolean>()
  let accepting = true

  const metrics = options.metrics ?? noTransportMetrics
  const base = options.basePath.endsWith('/') ? options.basePath : options.basePath + '/'
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Before anything is written: a peer that resets the connection makes the write fail, and
    // an 'error' nobody listens to would take the process down.
    socket.on('error', (error) => app.log.debug({ err: error }, 'upgrade socket error'))
    const url = req.url ?? '/'
    // The base path itself (no document name, invalid for y-websocket) speaks the Hocuspocus protocol.
    const path = url.split('?', 1)[0]!
    const hocuspocus = path === base || path + '/' === base
    if (!url.startsWith(base) && !hocuspocus) {
      // Not ours: leave it to another upgrade listener if there is one.
      if (app.server.listenerCount('upgrade') === 1) rejectUpgrade(socket, 404, 'Not Found')
      return
    }
    if (!accepting) return rejectUpgrade(socket, 503, 'Service Unavailable')
    wss.handleUpgrade(req, socket, head, (ws) => {
      explainFrameErrors(ws, options.maxFrameBytes)
      metrics.connectionOpened(hocuspocus ? 'hocuspocus' : 'y-websocket')
      ws.once('close', (code) => metrics.connectionClosed(code))
      // Before the admission check: a refused socket may still error, and an unheard 'error' throws.
      ws.on('error', (error) => {
        if (!isFrameTooBig(error)) return
        options.guard?.frameTooBig()
        metrics.connectionError('QUIRE_FRAME_TOO_BIG')
      })
      const refuse = (code: CloseErrorCode, reason: string): void => {
        app.log.info({ code, reason }, 'connection refused')
        ws.close(CLOSE_ERRORS[code].close, closeReason(reason))
      }
      if (options.originAllowed && !options.originAllowed(req.headers.origin, req.headers.host)) {
        return refuse('QUIRE_ORIGIN_REFUSED', `origin ${String(req.headers.origin).slice(0, 60)} is not allowed`)
      }
      const admitted = options.guard?.admit(options.trustProxy ? clientAddress(req, options.trustProxy) : req.socket.remoteAddress)
      if (admitted instanceof LimitError) return refuse(admitted.code, admitted.message)
      if (admitted) ws.once('close', admitted)
      alive.set(ws, true)
      ws.on('pong', () => alive.set(ws, true))
      if (hocuspocus) return serveHocuspocus(ws, registry, app.log, metrics, options)
      let name: string
      try {
        name = documentNameFromUrl(url, base)
      } catch (error) {
        return refuse('QUIRE_BAD_DOCUMENT_NAME', error instanceof ProtocolError ? error.message : 'invalid document name')
      }
      serve(ws, name, req, registry, app.log, metrics, options)
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

/** Pipes one WebSocket into a transport-neutral Connection. */
function serve(
  ws: WebSocket,
  name: string,
  req: IncomingMessage,
  registry: RoomRegistry,
  appLog: Logger,
  metrics: TransportMetrics,
  options: WebSocketOptions,
): void {
  const id = (++nextConnectionId).toString(36)
  const wire: Wire = {
    send: (frame) => ws.send(frame),
    get bufferedAmount() {
      return ws.bufferedAmount
    },
    get isOpen() {
      return ws.readyState === WebSocket.OPEN
    },
    close: (code, reason) => {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason)
    },
  }
  const auth = options.auth
  const connection = new Connection({
    id,
    name,
    wire,
    registry,
    log: appLog,
    metrics,
    guard: options.guard?.connection(),
    authorize: auth ? (peer, onClose, log) => authorizeConnection(auth, req, name, peer, onClose, log) : undefined,
    transport: 'websocket',
  })
  // Logged with the fields of the child logger, without creating one per idle socket. At debug:
  // the close line carries everything (duration, bytes, code), and a reconnect storm should not
  // double the log volume.
  appLog.debug({ room: name, conn: id }, 'connection opened')
  ws.on('message', (data, isBinary) => connection.receive(toBytes(data), isBinary))
  ws.on('close', (code, reason) => {
    connection.closed(code)
    const durationMs = Math.round(performance.now() - connection.openedAt)
    const { bytesIn, bytesOut } = connection
    appLog.info({ room: name, conn: id, code, reason: reason.toString() || undefined, durationMs, bytesIn, bytesOut }, 'connection closed')
  })
  ws.on('error', (error) => connection.log().warn({ err: error }, 'websocket error'))
  connection.start()
}

/** Pipes one WebSocket speaking the Hocuspocus protocol into its documents' Connections. */
function serveHocuspocus(ws: WebSocket, registry: RoomRegistry, appLog: Logger, metrics: TransportMetrics, options: WebSocketOptions): void {
  const id = (++nextConnectionId).toString(36)
  const socket = new HocuspocusSocket(ws, {
    id,
    registry,
    log: appLog,
    metrics,
    guard: options.guard?.connection(),
    auth: options.auth,
    maxDocuments: options.maxDocumentsPerConnection ?? 0,
  })
  const openedAt = performance.now()
  let bytesIn = 0
  appLog.debug({ conn: id, protocol: 'hocuspocus' }, 'connection opened')
  ws.on('message', (data, isBinary) => {
    const frame = toBytes(data)
    bytesIn += frame.byteLength
    socket.receive(frame, isBinary)
  })
  ws.on('close', (code, reason) => {
    socket.socketClosed(code)
    const durationMs = Math.round(performance.now() - openedAt)
    appLog.info({ conn: id, protocol: 'hocuspocus', code, reason: reason.toString() || undefined, durationMs, bytesIn }, 'connection closed')
  })
  ws.on('error', (error) => appLog.warn({ conn: id, err: error }, 'websocket error'))
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
  if (socket.destroyed || !socket.writable) return
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/** Sends 1001 to every socket and waits (briefly) for the closing handshakes. */
async function closeAll(wss: WebSocketServer): Promise<void> {
  const sockets = [...wss.clients]
  const closed = sockets.map((ws) => new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve()
    ws.once('close', () => resolve())
    ws.close(CLOSE_ERRORS.QUIRE_SHUTTING_DOWN.close, 'server shutting down')
  }))
  const grace = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())
  await Promise.race([Promise.all(closed), grace])
  for (const ws of sockets) if (ws.readyState !== WebSocket.CLOSED) ws.terminate()
  await new Promise<void>((resolve) => wss.close(() => resolve()))
}
