/** Test harness: real servers on port 0 over real LevelDB, real y-websocket providers over `ws`. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import type { FastifyInstance } from 'fastify'
import { createServer, type CreateServerOptions, type DocStore } from '../src/index.js'

const cleanups: Array<() => Promise<void>> = []

// Every y-websocket provider adds a process 'exit' listener; tests create dozens.
process.setMaxListeners(200)

/** Runs registered cleanups (servers, providers, temp dirs), newest first. Call in afterEach. */
export async function cleanup(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {})
}

export async function tempDir(prefix = 'quire-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

export interface TestServer {
  app: FastifyInstance
  url: string
  port: number
  dataDir: string
  close(): Promise<void>
}

export async function startServer(options: CreateServerOptions & { dataDir?: string } = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await tempDir())
  const app = createServer({ ...options, dataDir })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await app.close()
  }
  cleanups.push(close)
  return { app, url: `ws://127.0.0.1:${port}`, port, dataDir, close }
}

export function connect(url: string, room: string, doc = new Y.Doc(), options: { connect?: boolean } = {}): WebsocketProvider {
  const provider = new WebsocketProvider(url, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true, // providers in one process would otherwise sync through BroadcastChannel
    maxBackoffTime: 300,
    connect: options.connect ?? true,
  })
  cleanups.push(async () => {
    provider.destroy()
    doc.destroy()
  })
  return provider
}

/** Resolves at the provider's next `sync(true)` (or at once if already synced). */
export function synced(provider: WebsocketProvider, timeoutMs = 10_000): Promise<void> {
  if (provider.synced) return Promise.resolve()
  return withTimeout(new Promise<void>((resolve) => {
    const onSync = (state: boolean) => {
      if (!state) return
      provider.off('sync', onSync)
      resolve()
    }
    provider.on('sync', onSync)
  }), timeoutMs, 'provider sync')
}

/** Polls `check` until it returns true; fails with `what` after the deadline. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** A raw WebSocket client that records every frame and the close code/reason. */
export interface RawClient {
  ws: WebSocket
  frames: Uint8Array[]
  closed: Promise<{ code: number; reason: string }>
  send(bytes: Uint8Array | number[]): void
}

export async function rawClient(url: string, path: string): Promise<RawClient> {
  const ws = new WebSocket(url + '/' + path)
  const frames: Uint8Array[] = []
  ws.on('message', (data: Buffer) => frames.push(new Uint8Array(data)))
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
  })
  ws.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('close', () => resolve())
    ws.once('error', reject)
  })
  cleanups.push(async () => ws.terminate())
  return { ws, frames, closed, send: (bytes) => ws.send(Uint8Array.from(bytes)) }
}

/**
 * Completes a WebSocket handshake by hand, then pauses: nothing is read or answered again, so the
 * server sees a peer that stops reading (and never answers a ping). Destroyed on cleanup.
 */
export async function pausedSocket(port: number, path: string): Promise<Socket> {
  const socket = tcpConnect(port, '127.0.0.1')
  socket.on('error', () => {})
  cleanups.push(async () => void socket.destroy())
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  socket.write(
    `GET /${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  )
  await new Promise<void>((resolve) => socket.once('data', () => resolve())) // 101 Switching Protocols
  socket.pause()
  return socket
}

/** A DocStore passing every call to `inner` except those in `overrides` (fault injection, counting, holding). */
export function delegatingStore(inner: DocStore, overrides: Partial<DocStore> = {}): DocStore {
  return {
    load: (name) => inner.load(name),
    append: (name, update) => inner.append(name, update),
    readSince: (name, seq) => inner.readSince(name, seq),
    compact: (name, snapshot) => inner.compact(name, snapshot),
    info: (name) => inner.info(name),
    list: (options) => inner.list(options),
    delete: (name) => inner.delete(name),
    versions: inner.versions,
    release: (name) => inner.release(name),
    close: () => inner.close(),
    ...overrides,
  }
}
