/**
 * Clients of the Hocuspocus protocol for tests: the real `@hocuspocus/provider` (4.x, and 3.x
 * installed as `hocuspocus-provider-v3`), and a raw socket that writes and reads addressed frames
 * by hand for what a provider would never send.
 */
import * as Y from 'yjs'
import WebSocket from 'ws'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import * as v3 from 'hocuspocus-provider-v3'
import { withTimeout } from './helpers.js'

type AnyProvider = HocuspocusProvider | v3.HocuspocusProvider
const open: Array<{ destroy(): void }> = []

/** Destroys every provider and socket made here. Call in afterEach, before the server closes. */
export function closeHocuspocusClients(): void {
  for (const client of open.splice(0).reverse()) client.destroy()
}

/** One shared socket (`HocuspocusProviderWebsocket`) to the server's base path. */
export function hpSocket(url: string, version: 3 | 4 = 4): HocuspocusProviderWebsocket {
  const Socket = version === 4 ? HocuspocusProviderWebsocket : (v3.HocuspocusProviderWebsocket as unknown as typeof HocuspocusProviderWebsocket)
  const socket = new Socket({ url, WebSocketPolyfill: WebSocket as never, delay: 50, minDelay: 50, maxDelay: 300 })
  open.push(socket)
  return socket
}

export interface ProviderOptions {
  token?: string | (() => Promise<string>)
  doc?: Y.Doc
  version?: 3 | 4
  sessionAwareness?: boolean
}

/** A provider for `name` attached to `socket`. */
export function hpProvider(socket: HocuspocusProviderWebsocket, name: string, options: ProviderOptions = {}): HocuspocusProvider {
  const Provider = options.version === 3 ? (v3.HocuspocusProvider as unknown as typeof HocuspocusProvider) : HocuspocusProvider
  const provider = new Provider({
    websocketProvider: socket,
    name,
    document: options.doc ?? new Y.Doc(),
    token: options.token ?? 'anonymous',
    ...(options.sessionAwareness && { sessionAwareness: true }),
  })
  provider.attach()
  open.push(provider)
  return provider
}

/** Resolves once the provider has synced (its first SyncStep2 arrived). */
export function hpSynced(provider: AnyProvider, timeoutMs = 10_000): Promise<void> {
  if (provider.synced) return Promise.resolve()
  return withTimeout(new Promise<void>((resolve) => provider.on('synced', () => resolve())), timeoutMs, `provider ${provider.configuration.name} sync`)
}

/** Resolves with the reason of the provider's next authentication failure. */
export function hpDenied(provider: AnyProvider, timeoutMs = 10_000): Promise<string> {
  return withTimeout(new Promise<string>((resolve) => provider.on('authenticationFailed', ({ reason }: { reason: string }) => resolve(reason))), timeoutMs, 'authentication failure')
}

export const text = (provider: AnyProvider) => provider.document.getText('t').toString()

// --- raw frames -------------------------------------------------------------------------------

/** An addressed frame: the address, the type, then whatever `write` adds. */
export function hpFrame(address: string, type: number, write: (encoder: encoding.Encoder) => void = () => {}): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarString(encoder, address)
  encoding.writeVarUint(encoder, type)
  write(encoder)
  return encoding.toUint8Array(encoder)
}

export const authFrame = (address: string, token: string) =>
  hpFrame(address, 2, (e) => {
    encoding.writeVarUint(e, 0)
    encoding.writeVarString(e, token)
  })

export const syncStep1Frame = (address: string, doc = new Y.Doc()) =>
  hpFrame(address, 0, (e) => {
    encoding.writeVarUint(e, 0)
    encoding.writeVarUint8Array(e, Y.encodeStateVector(doc))
  })

export const updateFrame = (address: string, update: Uint8Array) =>
  hpFrame(address, 0, (e) => {
    encoding.writeVarUint(e, 2)
    encoding.writeVarUint8Array(e, update)
  })

export interface ServerFrame {
  address: string
  type: number
  /** Positioned after the type. */
  decoder: decoding.Decoder
}

export function readServerFrame(frame: Uint8Array): ServerFrame {
  const decoder = decoding.createDecoder(frame)
  const address = decoding.readVarString(decoder)
  const type = decoding.readVarUint(decoder)
  return { address, type, decoder }
}

export interface RawHocuspocus {
  ws: WebSocket
  frames: ServerFrame[]
  closed: Promise<{ code: number; reason: string }>
  send(frame: Uint8Array): void
  /** Frames for `address` of `type`. */
  of(address: string, type: number): ServerFrame[]
}

export async function rawHocuspocus(url: string): Promise<RawHocuspocus> {
  const ws = new WebSocket(url)
  open.push({ destroy: () => ws.terminate() })
  const frames: ServerFrame[] = []
  ws.on('message', (data: Buffer) => frames.push(readServerFrame(new Uint8Array(data))))
  ws.on('error', () => {})
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return {
    ws,
    frames,
    closed,
    send: (frame) => ws.send(frame),
    of: (address, type) => frames.filter((f) => f.address === address && f.type === type),
  }
}

/** The scope of an Authenticated message, or the reason of a PermissionDenied one. */
export function authAnswer(frame: ServerFrame): { authenticated: string } | { denied: string } {
  const decoder = decoding.createDecoder(frame.decoder.arr.subarray(frame.decoder.pos))
  const subtype = decoding.readVarUint(decoder)
  const value = decoding.readVarString(decoder)
  return subtype === 2 ? { authenticated: value } : { denied: value }
}
