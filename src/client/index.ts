/**
 * `quire-server/client`: browser and Node clients of a Quire server that need nothing but yjs,
 * y-protocols and lib0. SseProvider syncs a Y.Doc over Server-Sent Events and HTTP (docs/sse.md).
 */
export { SseProvider } from './sse-provider.js'
export type { SseCloseEvent, SseConnectionError, SseProviderEvents, SseProviderOptions, SseProviderStatus } from './sse-provider.js'
export { SseParser } from './sse-parser.js'
export type { SseMessage } from './sse-parser.js'
