#!/usr/bin/env -S node --max-semi-space-size=4
/** `quire serve`: run the server from flags and environment variables until SIGTERM/SIGINT. */
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { createServer } from './server.js'
import { ConfigError, SETTINGS, parseServeConfig } from './config.js'
import { DataDirInUseError } from './storage/doc-store.js'

// The operator commands (./ops/*) are imported only when one runs or --help lists them: they load pg
// and the migration code, which `serve` does not need: saves ~35 ms at start-up (measured).
const opsCommands = () => import('./ops/commands.js')

async function usage(): Promise<string> {
  const { OPS_COMMANDS } = await opsCommands()
  const rows = Object.values(SETTINGS).map((s) => [s.flag + (s.flag === '--fsync' ? '' : ' <value>'), s.env, s.default, s.help])
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length)))
  return [
    'Usage: quire serve [options]',
    '',
    'Options (flag, environment variable, default):',
    ...rows.map((row) => '  ' + row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ')),
    '',
    'Other commands (each has --help):',
    ...commandRows([
      ['quire migrate --from <dir|url> --to <dir|url>', 'copy all documents between LevelDB and PostgreSQL'],
      ...OPS_COMMANDS.map((c) => [c.synopsis, c.summary] as [string, string]),
    ]),
    '  (export … restore work on a stopped store, --data <dir> or --database-url <url>, or a running server, --server <url>)',
  ].join('\n')
}

function commandRows(rows: Array<[string, string]>): string[] {
  const width = Math.max(...rows.map(([synopsis]) => synopsis.length))
  return rows.map(([synopsis, summary]) => `  ${synopsis.padEnd(width)}  ${summary}`)
}

/** The package version, from the package.json next to dist/. */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

function fail(message: string, code: number): never {
  process.stderr.write(`quire: ${message}\n`)
  process.exit(code)
}

async function serve(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write((await usage()) + '\n')
    process.exit(0)
  }
  let config
  try {
    config = parseServeConfig(argv)
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2)
    throw error
  }
  const app = createServer({
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
    database: config.database,
    redisUrl: config.redisUrl,
    redisPrefix: config.redisPrefix,
    instanceId: config.instanceId,
    fsync: config.fsync,
    maxFrameBytes: config.maxFrameBytes,
    maxBodyBytes: config.maxBodyBytes,
    compactAfterUpdates: config.compactAfterUpdates,
    compactAfterBytes: config.compactAfterBytes,
    auth: config.security.auth,
    ...(config.security.tls && { https: config.security.tls }),
    limits: config.limits,
    restRateLimit: config.restRateLimit,
    allowedOrigins: config.allowedOrigins,
    corsOrigins: config.corsOrigins,
    trustProxy: config.trustProxy,
    awarenessWindowMs: config.awarenessWindowMs,
    changeEvents: config.changeEvents,
    logger: {
      level: config.logLevel,
      // JSON lines for log collectors; readable lines for a person at a terminal.
      ...(process.stdout.isTTY && { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } }),
    },
  }, { onlyQuire: true })
  // Handlers first: a process manager may send SIGTERM the moment the server says it listens.
  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) fail(`second ${signal}, exiting without a clean shutdown`, 1)
    stopping = true
    app.log.info({ signal }, 'shutting down')
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  // Under `npm start` or `npx quire` a shell sits between npm and this process, and it does not
  // pass SIGTERM on: stopping npm (as a process manager does) would leave this process running,
  // holding the port and the data dir. Notice the shell going away and shut down as if signalled.
  if (process.env.npm_lifecycle_event !== undefined) {
    const parent = process.ppid
    setInterval(() => process.ppid !== parent && !stopping && stop('SIGTERM'), 250).unref()
  }
  try {
    await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    if (stopping) return // closed by a signal while starting: stop() exits
    await app.close().catch(() => {})
    if (error instanceof DataDirInUseError) fail(error.message, 1)
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') fail(`port ${config.port} on ${config.host} is already in use`, 1)
    if (code === 'EADDRNOTAVAIL') fail(`cannot listen on ${config.host}: address not available`, 1)
    if (code === 'EEXIST' || code === 'ENOTDIR') fail(`data dir ${config.dataDir} is not a directory`, 1)
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') fail(`cannot listen on ${config.host}: unknown host`, 1)
    fail(`cannot start: ${(error as Error).message}`, 1)
  }
  app.log.info({}, welcome(app.server.address() as AddressInfo, Boolean(config.security.tls)))
}

/** Where to go once the server listens: the first thing a new user needs. */
function welcome(address: AddressInfo, tls: boolean): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const http = `${tls ? 'https' : 'http'}://${host === '0.0.0.0' || host === '[::]' ? 'localhost' : host}:${address.port}`
  return `Quire is ready: demo editor ${http}/ · dashboard ${http}/admin · REST API docs ${http}/docs · editors connect to ${http.replace(/^http/, 'ws')}/<document>`
}

const [command, ...rest] = process.argv.slice(2)
if (command === 'serve') {
  await serve(rest)
} else if (command === 'migrate') {
  const { migrateCommand } = await import('./ops/migrate-cli.js')
  process.exit(await migrateCommand(rest))
} else if (command === '--version' || command === '-v' || command === 'version') {
  process.stdout.write(`quire ${version()}\n`)
} else if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
  process.stdout.write((await usage()) + '\n')
  process.exit(command === undefined ? 2 : 0)
} else {
  const { OPS_COMMANDS, runCommand } = await opsCommands()
  const ops = OPS_COMMANDS.find((c) => c.name === command)
  if (ops) process.exit(await runCommand(ops, rest))
  fail(`unknown command ${JSON.stringify(command)}\n${await usage()}`, 2)
}
