/**
 * `quire serve` configuration: command-line flags over environment variables over defaults,
 * validated once at start-up so a bad value fails fast with a one-line reason.
 */
import { parseArgs } from 'node:util'
import { AUTH_SETTINGS, parseSecuritySettings, type SecuritySettings } from './auth/settings.js'
import { DEFAULT_LIMITS, type Limits } from './limits/limits.js'
import { DEFAULT_REST_RATE_LIMIT, type RestRateLimit } from './http/rate-limit.js'
import { DEFAULT_ALLOWED_ORIGINS, OriginSettingError, parseAllowedOrigins } from './auth/origins.js'
import { trustFunction, type TrustProxy } from './limits/client-address.js'
import type { ChangeEventOptions } from './events/start.js'
import { DEFAULT_EVENT_TYPES, EVENT_TYPES, type EventType } from './events/change-events.js'
import { parseRetrySchedule } from './events/retry-schedule.js'
import { parseWebhookSecret } from './events/webhook-signing.js'

export interface ServeConfig {
  port: number
  host: string
  dataDir: string
  /** --database-url: store documents in PostgreSQL instead of dataDir; undefined when unset. */
  databaseUrl: string | undefined
  /** PostgreSQL schema, pool size and timeouts (used with databaseUrl). */
  database: DatabaseSettings
  /** --redis-url: join the cluster on this Redis; undefined when unset. */
  redisUrl: string | undefined
  /** --instance-id; undefined = host name and pid. */
  instanceId: string | undefined
  redisPrefix: string
  fsync: boolean
  maxFrameBytes: number
  maxBodyBytes: number
  compactAfterUpdates: number
  compactAfterBytes: number
  logLevel: string
  /** Authentication and TLS (auth/settings.ts). */
  security: SecuritySettings
  limits: Limits
  restRateLimit: RestRateLimit
  /** Entries of --allowed-origins (auth/origins.ts): `auto`, `none`, `*` or exact origins. */
  allowedOrigins: string[]
  /** --cors-origin: older name; its origins are added to allowedOrigins (and get CORS headers like them). */
  corsOrigins: string[]
  /** --trust-proxy (limits/client-address.ts). */
  trustProxy: TrustProxy
  awarenessWindowMs: number
  /** --webhook-*: change events (events/); undefined when no URL is set. */
  changeEvents: ChangeEventOptions | undefined
}

export interface DatabaseSettings {
  schema: string
  poolSize: number
  connectTimeoutMs: number
  statementTimeoutMs: number
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Flags, their environment variable, and their default; the single source for help text and README. */
export const SETTINGS = {
  port: { flag: '--port', env: 'PORT', default: '1234', help: 'TCP port (0 picks a free one)' },
  host: { flag: '--host', env: 'HOST', default: '127.0.0.1', help: 'interface to listen on (0.0.0.0 for all)' },
  data: { flag: '--data', env: 'DATA_DIR', default: './data', help: 'LevelDB data directory' },
  fsync: { flag: '--fsync', env: 'FSYNC', default: 'false', help: 'fsync every write batch (power-loss safe)' },
  'database-url': { flag: '--database-url', env: 'DATABASE_URL', default: '', help: 'postgres:// URL: store documents in PostgreSQL (servers may share it) instead of --data' },
  'database-schema': { flag: '--database-schema', env: 'DATABASE_SCHEMA', default: 'public', help: 'PostgreSQL schema for Quire\'s tables (created if missing)' },
  'database-pool-size': { flag: '--database-pool-size', env: 'DATABASE_POOL_SIZE', default: '10', help: 'PostgreSQL connections per server' },
  'database-connect-timeout-ms': { flag: '--database-connect-timeout-ms', env: 'DATABASE_CONNECT_TIMEOUT_MS', default: '5000', help: 'give up connecting to PostgreSQL after this long' },
  'database-statement-timeout-ms': { flag: '--database-statement-timeout-ms', env: 'DATABASE_STATEMENT_TIMEOUT_MS', default: '30000', help: 'cancel a PostgreSQL statement after this long (0: never)' },
  'redis-url': { flag: '--redis-url', env: 'REDIS_URL', default: '', help: 'redis:// URL: run as one of several instances sharing --database-url (docs/cluster.md)' },
  'redis-prefix': { flag: '--redis-prefix', env: 'REDIS_PREFIX', default: 'quire:', help: 'prefix of the cluster\'s Redis channels and keys' },
  'instance-id': { flag: '--instance-id', env: 'INSTANCE_ID', default: '', help: 'this instance\'s name in logs and the cluster (default: host name-pid)' },
  'trust-proxy': { flag: '--trust-proxy', env: 'TRUST_PROXY', default: 'false', help: 'client address from X-Forwarded-For of: true (any proxy), a hop count, or proxy addresses/CIDRs' },
  'awareness-window-ms': { flag: '--awareness-window-ms', env: 'AWARENESS_WINDOW_MS', default: '16', help: 'relay awareness (cursors) once per this window, latest states only (0: each change at once)' },
  'webhook-url': { flag: '--webhook-url', env: 'WEBHOOK_URL', default: '', help: 'POST change events to these URLs (comma-separated; docs/events.md)' },
  'webhook-secret': { flag: '--webhook-secret', env: 'WEBHOOK_SECRET', default: '', help: 'whsec_… secrets that sign webhooks (comma-separated during a rotation)' },
  'webhook-events': { flag: '--webhook-events', env: 'WEBHOOK_EVENTS', default: 'document.*,version.*', help: `change events to send: ${EVENT_TYPES.join(', ')}, or <group>.* (connection.* only when listed)` },
  'webhook-retry-schedule': { flag: '--webhook-retry-schedule', env: 'WEBHOOK_RETRY_SCHEDULE', default: '5s,5m,30m,2h,5h,10h,10h', help: 'delays between delivery attempts before an event goes to the dead letters' },
  'nats-url': { flag: '--nats-url', env: 'NATS_URL', default: '', help: 'publish change events to NATS JetStream at this nats:// URL' },
  'nats-subject': { flag: '--nats-subject', env: 'NATS_SUBJECT', default: 'quire.events', help: 'events go to <subject>.<type>' },
  'nats-stream': { flag: '--nats-stream', env: 'NATS_STREAM', default: 'QUIRE_EVENTS', help: 'JetStream stream capturing <subject>.> (created if missing)' },
  'webhook-timeout-ms': { flag: '--webhook-timeout-ms', env: 'WEBHOOK_TIMEOUT_MS', default: '10000', help: 'give up on one webhook attempt after this long' },
  'max-frame-bytes': { flag: '--max-frame-bytes', env: 'MAX_FRAME_BYTES', default: String(16 * 1024 * 1024), help: 'largest WebSocket frame; larger closes with 1009' },
  'max-body-bytes': { flag: '--max-body-bytes', env: 'MAX_BODY_BYTES', default: String(16 * 1024 * 1024), help: 'largest REST request body; larger gets 413' },
  'compact-after-updates': { flag: '--compact-after-updates', env: 'COMPACT_AFTER_UPDATES', default: '1000', help: 'compact a document once its log holds this many updates' },
  'compact-after-bytes': { flag: '--compact-after-bytes', env: 'COMPACT_AFTER_BYTES', default: String(1024 * 1024), help: '…or this many bytes' },
  'log-level': { flag: '--log-level', env: 'LOG_LEVEL', default: 'info', help: LOG_LEVELS.join('|') },
  ...AUTH_SETTINGS,
  // Limits (README "Limits"); 0 disables a numeric one.
  'max-connections': { flag: '--max-connections', env: 'MAX_CONNECTIONS', default: String(DEFAULT_LIMITS.maxConnections), help: 'open WebSockets in total; more close with 1013' },
  'max-connections-per-ip': { flag: '--max-connections-per-ip', env: 'MAX_CONNECTIONS_PER_IP', default: String(DEFAULT_LIMITS.maxConnectionsPerIp), help: 'open WebSockets per client IP (off: proxies share one); more close with 1013' },
  'max-rooms': { flag: '--max-rooms', env: 'MAX_ROOMS', default: String(DEFAULT_LIMITS.maxRooms), help: 'documents loaded at once; a join loading one more closes with 1013' },
  'message-burst': { flag: '--message-burst', env: 'MESSAGE_BURST', default: String(DEFAULT_LIMITS.messageBurst), help: 'messages a connection may send at once…' },
  'messages-per-second': { flag: '--messages-per-second', env: 'MESSAGES_PER_SECOND', default: String(DEFAULT_LIMITS.messagesPerSecond), help: '…and sustained; more close with 1008' },
  'max-document-bytes': { flag: '--max-document-bytes', env: 'MAX_DOCUMENT_BYTES', default: String(DEFAULT_LIMITS.maxDocumentBytes), help: 'document size quota; an update past it closes with 4413' },
  'max-buffered-bytes': { flag: '--max-buffered-bytes', env: 'MAX_BUFFERED_BYTES', default: String(DEFAULT_LIMITS.maxBufferedBytes), help: 'unsent bytes per connection; a client that does not read closes with 1013' },
  'max-queued-messages': { flag: '--max-queued-messages', env: 'MAX_QUEUED_MESSAGES', default: String(DEFAULT_LIMITS.maxQueuedMessages), help: 'frames held per connection until it is authorised and its document loaded; more close with 1008' },
  'max-queued-bytes': { flag: '--max-queued-bytes', env: 'MAX_QUEUED_BYTES', default: String(DEFAULT_LIMITS.maxQueuedBytes), help: '…and their bytes beyond the first frame' },
  'max-awareness-clients': { flag: '--max-awareness-clients', env: 'MAX_AWARENESS_CLIENTS', default: String(DEFAULT_LIMITS.maxAwarenessClients), help: 'awareness client ids one connection may announce; more close with 1008' },
  'max-awareness-bytes': { flag: '--max-awareness-bytes', env: 'MAX_AWARENESS_BYTES', default: String(DEFAULT_LIMITS.maxAwarenessBytes), help: 'bytes of one awareness state; larger closes with 4413' },
  'max-documents-per-connection': { flag: '--max-documents-per-connection', env: 'MAX_DOCUMENTS_PER_CONNECTION', default: String(DEFAULT_LIMITS.maxDocumentsPerConnection), help: 'documents one Hocuspocus connection may open; one more gets permission-denied' },
  'rest-rate-limit': { flag: '--rest-rate-limit', env: 'REST_RATE_LIMIT', default: String(DEFAULT_REST_RATE_LIMIT.max), help: 'REST requests per IP and window; more get 429' },
  'rest-rate-window-ms': { flag: '--rest-rate-window-ms', env: 'REST_RATE_WINDOW_MS', default: String(DEFAULT_REST_RATE_LIMIT.windowMs), help: 'the window of --rest-rate-limit' },
  'allowed-origins': { flag: '--allowed-origins', env: 'ALLOWED_ORIGINS', default: DEFAULT_ALLOWED_ORIGINS, help: 'browser origins that may open WebSockets and call REST/admin: auto (no Origin, same origin, localhost; all with auth on), none, *, or comma-separated https://host[:port]; listed origins also get CORS' },
  'cors-origin': { flag: '--cors-origin', env: 'CORS_ORIGIN', default: '', help: 'older form: origins added to --allowed-origins' },
} as const

type SettingName = keyof typeof SETTINGS

/**
 * `--port -1` reads as a flag `-1` to parseArgs, which then calls `--port` "ambiguous". A value
 * that starts with a dash but is not one of our flags is attached (`--port=-1`), so it reaches
 * the validation below and gets the usual one-line reason.
 */
function attachDashValues(argv: string[]): string[] {
  const flags = new Set(Object.values(SETTINGS).map((s) => s.flag as string))
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const next = argv[i + 1]
    if (flags.has(arg) && arg !== '--fsync' && next !== undefined && next.startsWith('-') && !flags.has(next.split('=')[0]!)) {
      out.push(`${arg}=${next}`)
      i++
    } else {
      out.push(arg)
    }
  }
  return out
}

export function parseServeConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeConfig {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: attachDashValues(argv),
      strict: true,
      allowPositionals: false,
      options: Object.fromEntries(
        Object.keys(SETTINGS).map((name) => [name, { type: name === 'fsync' ? 'boolean' : 'string' }]),
      ) as Record<string, { type: 'string' | 'boolean' }>,
    }))
  } catch (error) {
    // parseArgs explains some mistakes over several lines; start-up errors are one line.
    throw new ConfigError((error as Error).message.replace(/\s*\n\s*/g, ' '))
  }
  const raw = (name: SettingName): string => {
    const flag = values[name]
    if (flag !== undefined) return String(flag)
    return env[SETTINGS[name].env] ?? SETTINGS[name].default
  }
  const source = (name: SettingName) =>
    values[name] !== undefined ? SETTINGS[name].flag : env[SETTINGS[name].env] !== undefined ? SETTINGS[name].env : 'default'

  const integer = (name: SettingName, min: number, max: number): number => {
    const text = raw(name).trim()
    const value = Number(text)
    if (!/^\d+$/.test(text) || value < min || value > max) {
      throw new ConfigError(`${source(name)}: ${JSON.stringify(raw(name))} is not an integer from ${min} to ${max}`)
    }
    return value
  }
  const boolean = (name: SettingName): boolean => {
    const text = raw(name).trim().toLowerCase()
    if (['1', 'true', 'yes', 'on'].includes(text)) return true
    if (['0', 'false', 'no', 'off', ''].includes(text)) return false
    throw new ConfigError(`${source(name)}: ${JSON.stringify(raw(name))} is not a boolean (true/false)`)
  }
  const text = (name: SettingName, valid: (value: string) => boolean, expected: string): string => {
    const value = raw(name).trim()
    if (!valid(value)) throw new ConfigError(`${source(name)}: ${JSON.stringify(raw(name))} is not ${expected}`)
    return value
  }

  const origins = (name: SettingName): string[] => {
    const value = raw(name).trim()
    try {
      parseAllowedOrigins(value) // validates; the server parses the entries again with the auth setting at hand
    } catch (error) {
      if (error instanceof OriginSettingError) throw new ConfigError(`${source(name)}: ${error.message}`)
      throw error
    }
    const entries = value.split(',').map((entry) => entry.trim()).filter(Boolean)
    return entries.length > 0 ? entries : [DEFAULT_ALLOWED_ORIGINS]
  }

  /** The older setting: plain origins or `*` only; checked like --allowed-origins, since they join it. */
  const corsOrigins = (): string[] => {
    const list = text('cors-origin', (v) => v === '' || v.split(',').every((o) => /^(\*|https?:\/\/[^\s/,]+)$/.test(o.trim())), 'a comma-separated list of origins (https://host[:port]) or *')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean)
    try {
      parseAllowedOrigins(list)
    } catch (error) {
      if (error instanceof OriginSettingError) throw new ConfigError(`${source('cors-origin')}: ${error.message}`)
      throw error
    }
    return list
  }

  /** The URL may hold a password: a bad one is described, never echoed. */
  const databaseUrl = (): string | undefined => {
    const value = raw('database-url').trim()
    if (value === '') return undefined
    let url: URL | undefined
    try {
      url = new URL(value)
    } catch {}
    if (!url || !['postgres:', 'postgresql:'].includes(url.protocol)) {
      throw new ConfigError(`${source('database-url')}: not a postgres:// or postgresql:// URL`)
    }
    return value
  }

  /** Like the database URL, never echoed: it may hold a password. */
  const redisUrl = (): string | undefined => {
    const value = raw('redis-url').trim()
    if (value === '') return undefined
    let url: URL | undefined
    try {
      url = new URL(value)
    } catch {}
    if (!url || !['redis:', 'rediss:'].includes(url.protocol)) throw new ConfigError(`${source('redis-url')}: not a redis:// or rediss:// URL`)
    return value
  }

  const trustProxy = (): TrustProxy => {
    const value = raw('trust-proxy').trim()
    if (['', 'false', '0', 'no', 'off'].includes(value.toLowerCase())) return false
    if (['true', 'yes', 'on'].includes(value.toLowerCase())) return true
    if (/^\d+$/.test(value)) return Number(value)
    const list = value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
    try {
      trustFunction(list)
    } catch {
      throw new ConfigError(`${source('trust-proxy')}: ${JSON.stringify(value)} is not true, false, a hop count, or addresses/CIDRs`)
    }
    return list
  }

  const list = (name: SettingName) => raw(name).split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
  /** Secrets are never echoed: only which setting is wrong and why. */
  const changeEvents = (): ChangeEventOptions | undefined => {
    const urls = list('webhook-url')
    const natsUrl = raw('nats-url').trim()
    if (urls.length === 0 && natsUrl === '') return undefined
    if (natsUrl !== '' && !natsUrl.split(',').every((u) => /^(nats|tls):\/\/[^\s]+$/.test(u.trim()))) {
      throw new ConfigError(`${source('nats-url')}: not a nats:// URL`)
    }
    for (const url of urls) {
      let parsed: URL | undefined
      try {
        parsed = new URL(url)
      } catch {}
      if (!parsed || !['http:', 'https:'].includes(parsed.protocol)) throw new ConfigError(`${source('webhook-url')}: ${JSON.stringify(url)} is not an http(s) URL`)
    }
    const secrets = list('webhook-secret')
    if (secrets.length === 0 && urls.length > 0) throw new ConfigError(`${source('webhook-url')} needs --webhook-secret (WEBHOOK_SECRET): whsec_ and the base64 of 24 or more random bytes`)
    for (const secret of secrets) {
      try {
        parseWebhookSecret(secret)
      } catch (error) {
        throw new ConfigError(`${source('webhook-secret')}: ${(error as Error).message}`)
      }
    }
    const events = new Set<EventType>()
    for (const entry of list('webhook-events')) {
      // `document.*` names a group, so the default stays short in --help and new types join their group.
      const matching = EVENT_TYPES.filter((type) => type === entry || (entry.endsWith('.*') && type.startsWith(entry.slice(0, -1))))
      if (matching.length === 0) throw new ConfigError(`${source('webhook-events')}: ${JSON.stringify(entry)} is not one of ${EVENT_TYPES.join(', ')} (or document.*, version.*, connection.*)`)
      for (const type of matching) events.add(type)
    }
    let retrySchedule: number[]
    try {
      retrySchedule = parseRetrySchedule(raw('webhook-retry-schedule'))
    } catch (error) {
      throw new ConfigError(`${source('webhook-retry-schedule')}: ${(error as Error).message}`)
    }
    const subject = text('nats-subject', (v) => /^[\w-]+(\.[\w-]+)*$/.test(v), 'a NATS subject like quire.events')
    const stream = text('nats-stream', (v) => /^[\w-]{1,64}$/.test(v), 'a JetStream stream name (letters, digits, _ and -)')
    return {
      webhooks: urls.map((url) => ({ url, secrets })),
      ...(natsUrl !== '' && { nats: { url: natsUrl, subject, stream } }),
      events: events.size > 0 ? [...events] : [...DEFAULT_EVENT_TYPES],
      retrySchedule,
      timeoutMs: integer('webhook-timeout-ms', 1, 600_000),
    }
  }

  const config = {
    port: integer('port', 0, 65535),
    host: text('host', (v) => /^[\w.:\-[\]%]+$/.test(v), 'a host name or IP address'),
    dataDir: text('data', (v) => v.length > 0, 'a directory path'),
    databaseUrl: databaseUrl(),
    redisUrl: redisUrl(),
    redisPrefix: text('redis-prefix', (v) => Buffer.byteLength(v) <= 200 && !/\p{Cc}/u.test(v), 'at most 200 bytes, no control characters'),
    instanceId: text('instance-id', (v) => Buffer.byteLength(v) <= 200 && !/\p{Cc}/u.test(v), 'at most 200 bytes, no control characters') || undefined,
    database: {
      schema: text('database-schema', (v) => v.length > 0 && Buffer.byteLength(v) <= 63 && !/\p{Cc}/u.test(v), 'a schema name (1 to 63 bytes)'),
      poolSize: integer('database-pool-size', 1, 10_000),
      connectTimeoutMs: integer('database-connect-timeout-ms', 1, 2 ** 31 - 1),
      statementTimeoutMs: integer('database-statement-timeout-ms', 0, 2 ** 31 - 1),
    },
    fsync: boolean('fsync'),
    maxFrameBytes: integer('max-frame-bytes', 1024, 2 ** 31 - 1),
    maxBodyBytes: integer('max-body-bytes', 1024, 2 ** 31 - 1),
    compactAfterUpdates: integer('compact-after-updates', 1, 2 ** 31 - 1),
    compactAfterBytes: integer('compact-after-bytes', 1024, 2 ** 40),
    logLevel: text('log-level', (v) => LOG_LEVELS.includes(v.toLowerCase()), `one of ${LOG_LEVELS.join(', ')}`).toLowerCase(),
    security: parseSecuritySettings(raw, (name, message) => {
      // Secrets and PEM text are never echoed into the error.
      throw new ConfigError(`${source(name)}: ${message}`)
    }),
    limits: {
      maxConnections: integer('max-connections', 0, 2 ** 31 - 1),
      maxConnectionsPerIp: integer('max-connections-per-ip', 0, 2 ** 31 - 1),
      maxRooms: integer('max-rooms', 0, 2 ** 31 - 1),
      messageBurst: integer('message-burst', 1, 2 ** 31 - 1),
      messagesPerSecond: integer('messages-per-second', 0, 2 ** 31 - 1),
      maxDocumentBytes: integer('max-document-bytes', 0, 2 ** 40),
      maxBufferedBytes: integer('max-buffered-bytes', 0, 2 ** 40),
      maxQueuedMessages: integer('max-queued-messages', 1, 2 ** 31 - 1),
      maxQueuedBytes: integer('max-queued-bytes', 0, 2 ** 40),
      maxAwarenessClients: integer('max-awareness-clients', 1, 2 ** 31 - 1),
      maxAwarenessBytes: integer('max-awareness-bytes', 2, 2 ** 31 - 1),
      maxDocumentsPerConnection: integer('max-documents-per-connection', 0, 2 ** 31 - 1),
    },
    restRateLimit: {
      max: integer('rest-rate-limit', 0, 2 ** 31 - 1),
      windowMs: integer('rest-rate-window-ms', 1, 2 ** 31 - 1),
    },
    allowedOrigins: origins('allowed-origins'),
    corsOrigins: corsOrigins(),
    trustProxy: trustProxy(),
    awarenessWindowMs: integer('awareness-window-ms', 0, 10_000),
    changeEvents: changeEvents(),
  }
  if (config.redisUrl && !config.databaseUrl) {
    throw new ConfigError(`${source('redis-url')}: a cluster needs --database-url (DATABASE_URL): its instances share one store, and a LevelDB directory belongs to one process`)
  }
  return config
}
