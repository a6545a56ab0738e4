/** Auth test harness: tokens signed with jose, raw WebSocket clients that record frames and the close. */
import { SignJWT, type JWTPayload } from 'jose'
import { createSecretKey } from 'node:crypto'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { encodePermissionDenied } from '../src/protocol/messages.js'

export const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
export const secretKey = createSecretKey(Buffer.from(SECRET))

export interface Sign {
  claims?: JWTPayload & { docs?: Record<string, string>; role?: string }
  /** Seconds from now; negative for an expired token. Default 600. */
  expiresIn?: number
  key?: Parameters<SignJWT['sign']>[0]
  alg?: string
  kid?: string
}

export async function sign({ claims = {}, expiresIn = 600, key = secretKey, alg = 'HS256', kid }: Sign = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ sub: 'tester', ...claims })
    .setProtectedHeader({ alg, ...(kid && { kid }) })
    .setIssuedAt(now)
    .setExpirationTime(now + expiresIn)
    .sign(key)
}

export interface Frames {
  ws: WebSocket
  frames: Uint8Array[]
  opened: Promise<void>
  closed: Promise<{ code: number; reason: string; at: number }>
}

const sockets: WebSocket[] = []

const providers: WebsocketProvider[] = []

/** Closes the raw sockets and providers of this file's helpers. Call in afterEach. */
export function closeClients(): void {
  for (const ws of sockets.splice(0)) ws.terminate()
  for (const provider of providers.splice(0)) {
    provider.destroy()
    provider.doc.destroy()
  }
}

/** A y-websocket provider sending `token` as its `token` URL parameter. */
export function providerWith(url: string, room: string, token: string | undefined, options: { WebSocketPolyfill?: unknown } = {}): WebsocketProvider {
  const provider = new WebsocketProvider(url, room, new Y.Doc(), {
    WebSocketPolyfill: (options.WebSocketPolyfill ?? WebSocket) as typeof globalThis.WebSocket,
    disableBc: true,
    maxBackoffTime: 300,
    params: token ? { token } : {},
  })
  providers.push(provider)
  return provider
}

/** A raw client recording every frame; `protocols` offers subprotocols (e.g. a token). */
export function framesOf(url: string, protocols?: string[], options: WebSocket.ClientOptions = {}): Frames {
  const ws = new WebSocket(url, protocols, options)
  sockets.push(ws)
  const frames: Uint8Array[] = []
  ws.on('message', (data: Buffer) => frames.push(new Uint8Array(data)))
  ws.on('error', () => {})
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)))
  })
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() }))
  })
  return { ws, frames, opened, closed }
}

export const denied = (reason: string) => Buffer.from(encodePermissionDenied(reason))
