/**
 * `quire serve` configuration: command-line flags over environment variables over defaults,
 * validated once at start-up so a bad value fails fast with a one-line reason.
 */
import { parseArgs } from 'node:util'

export interface ServeConfig {
  port: number
  host: string
  dataDir: string
  fsync: boolean
  maxFrameBytes: number
  maxBodyBytes: number
  compactAfterUpdates: number
  compactAfterBytes: number
  logLevel: string
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
  'max-frame-bytes': { flag: '--max-frame-bytes', env: 'MAX_FRAME_BYTES', default: String(16 * 1024 * 1024), help: 'largest WebSocket frame; larger closes with 1009' },
  'max-body-bytes': { flag: '--max-body-bytes', env: 'MAX_BODY_BYTES', default: String(16 * 1024 * 1024), help: 'largest REST request body; larger gets 413' },
  'compact-after-updates': { flag: '--compact-after-updates', env: 'COMPACT_AFTER_UPDATES', default: '1000', help: 'compact a document once its log holds this many updates' },
  'compact-after-bytes': { flag: '--compact-after-bytes', env: 'COMPACT_AFTER_BYTES', default: String(1024 * 1024), help: '…or this many bytes' },
  'log-level': { flag: '--log-level', env: 'LOG_LEVEL', default: 'info', help: LOG_LEVELS.join('|') },
} as const

type SettingName = keyof typeof SETTINGS

export function parseServeConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeConfig {
  let values: Record<string, string | boolean | undefined>
  try {
    ;({ values } = parseArgs({
      args: argv,
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

  return {
    port: integer('port', 0, 65535),
    host: text('host', (v) => /^[\w.:\-[\]%]+$/.test(v), 'a host name or IP address'),
    dataDir: text('data', (v) => v.length > 0, 'a directory path'),
    fsync: boolean('fsync'),
    maxFrameBytes: integer('max-frame-bytes', 1024, 2 ** 31 - 1),
    maxBodyBytes: integer('max-body-bytes', 1024, 2 ** 31 - 1),
    compactAfterUpdates: integer('compact-after-updates', 1, 2 ** 31 - 1),
    compactAfterBytes: integer('compact-after-bytes', 1024, 2 ** 40),
    logLevel: text('log-level', (v) => LOG_LEVELS.includes(v), `one of ${LOG_LEVELS.join(', ')}`),
  }
}
