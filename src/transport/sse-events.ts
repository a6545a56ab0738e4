/**
 * The wire format of event streams (docs/sse.md): the response headers, one event's text, and
 * what the `sync` event carries. Shared by the transport (sse.ts) and each stream (sse-stream.ts).
 */

/** A comment line every this often keeps proxies from timing the stream out and shows a dead client. */
export const DEFAULT_SSE_HEARTBEAT_MS = 15_000

/**
 * Updates a stream may hold above its last contiguous seq (several instances deliver out of
 * order; a gap filled by a whole reload never fills seq by seq). Past it the stream ends and
 * its client resumes from the last id it got.
 */
export const MAX_AHEAD = 4096

/** Response headers of every stream: no caching, no transforming, and no buffering by nginx. */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const

/** What the `sync` event's data holds (JSON). */
export interface SyncEventData {
  /** Names this stream in `POST …/awareness?stream=`. */
  stream: string
  /** The seq this event stands for: every update stored up to it is in what the client has now. */
  seq: number
  /** The server's state vector, base64: `Y.encodeStateAsUpdate(doc, stateVector)` is what the server lacks. */
  stateVector: string
  /** What the client lacks, a Yjs v1 update in base64; absent when the stream resumed (`update` events follow). */
  update?: string
  /** True when the stream resumed after `Last-Event-ID` with the updates stored since. */
  resumed?: true
}
export const base64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')

/** One SSE event; `data` never holds a newline (base64 or JSON). */
export function event(type: string, data: string, id?: number): string {
  return `event: ${type}\n${id === undefined ? '' : `id: ${id}\n`}data: ${data}\n\n`
}
