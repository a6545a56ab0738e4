export { createServer, quire, DEFAULT_MAX_FRAME_BYTES } from './server.js'
export type { QuireOptions, QuireContext, CreateServerOptions, DatabaseOptions } from './server.js'
export { LevelDocStore, type LevelStoreOptions } from './storage/leveldb.js'
export { PostgresDocStore, type PostgresStoreOptions } from './storage/postgres.js'
export { SchemaTooNewError } from './storage/postgres-schema.js'
export { DataDirInUseError } from './storage/doc-store.js'
export type {
  DocStore,
  LoadedDoc,
  AppendResult,
  LogEntry,
  Snapshot,
  DocInfo,
  ListOptions,
  VersionStore,
  VersionInfo,
  StoredVersion,
} from './storage/doc-store.js'
export { RoomRegistry, ShuttingDownError } from './room/registry.js'
export { DEFAULT_MAX_BODY_BYTES } from './http/rest.js'
export { Room } from './room/room.js'
export type { Peer, Logger } from './room/peer.js'
export { CloseCode, ProtocolError } from './protocol/close-codes.js'
export { parseServeConfig, ConfigError, type ServeConfig } from './config.js'
export type { QuireMetrics } from './metrics/metrics.js'
export { Authenticator, AuthError, type AuthOptions } from './auth/authenticator.js'
export { accessTo, type Access, type Principal } from './auth/permissions.js'
export { DEFAULT_LIMITS, LIMIT_NAMES, type Limits, type LimitName } from './limits/limits.js'
