/**
 * Starts a collaboration server as a child process, the way a user runs it, and reads the
 * server process's own CPU time and memory from /proc. The server kinds (Quire on LevelDB or
 * PostgreSQL, the reference y-websocket server, Hocuspocus, the floor relay) are described in
 * bench/targets.mjs.
 *
 * A server's storage is named by its temporary data dir even when it stores in PostgreSQL (the
 * schema is derived from the dir's name, bench/databases.mjs), so scenarios restart a server "on
 * the same data dir" and measure or wait for "its store" the same way for every kind.
 *
 * Every child started here is killed when the bench process exits, crashes or is interrupted.
 */
import { spawn, execFileSync } from 'node:child_process'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROJECT_ROOT, SERVERS, freePort } from './targets.mjs'
import { benchDatabaseUrl, dropSchema, schemaFor, schemaStats } from './databases.mjs'

export { PROJECT_ROOT, SERVERS } from './targets.mjs'

const live = new Set()
/** Temporary data dirs made by tempDataDir() and not yet removed; deleted on exit too. */
const tempDirs = new Set()
/** Data dir → PostgreSQL schema, for the dirs a PostgreSQL server was started on. */
const pgSchemas = new Map()
let hooksInstalled = false
function installExitHooks() {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL')
      } catch {}
    }
    for (const dir of tempDirs) {
      try {
        rmSync(dir, { recursive: true, force: true })
      } catch {}
    }
  })
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      for (const child of live) {
        try {
          child.kill('SIGKILL')
        } catch {}
      }
      process.exit(130)
    })
  }
}

let clkTck = 0
/** Kernel clock ticks per second, for /proc/<pid>/stat times. */
export function clockTicks() {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clkTck = 100
    }
  }
  return clkTck
}

/** User+system CPU seconds consumed so far by `pid` (the process itself, not its children). */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Field 2 (comm) may contain spaces and parentheses; everything after the last ')' is fixed.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11])
  const stime = Number(rest[12])
  return (utime + stime) / clockTicks()
}

/** Current and peak resident set size of `pid`, in bytes. */
export function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (key) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)
    return m ? Number(m[1]) * 1024 : NaN
  }
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') }
}

/** Sum of the sizes of all files under `dir` (recursively), in bytes, and the newest mtime. */
export async function dirStats(dir) {
  let bytes = 0
  let files = 0
  let newest = 0
  const walk = async (d, depth) => {
    if (depth > 8) return
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const p = join(d, entry.name)
      if (entry.isDirectory()) await walk(p, depth + 1)
      else if (entry.isFile()) {
        try {
          const s = await stat(p)
          bytes += s.size
          files++
          newest = Math.max(newest, s.mtimeMs)
        } catch {} // removed while walking (LevelDB compaction)
      }
    }
  }
  await walk(dir, 0)
  return { bytes, files, newest }
}

/** Polls `dir` until its size and mtimes have not changed for `quietMs` (bounded by `maxMs`). */
export function waitDirQuiet(dir, options) {
  return waitQuiet(async () => {
    const s = await dirStats(dir)
    return { ...s, signature: `${s.bytes}/${s.newest}/${s.files}` }
  }, options)
}

/**
 * What the server on `dataDir` has stored: `bytes` on disk either way; for a data dir also `files`
 * and `newest` (mtime), for PostgreSQL Quire's own counters (bench/databases.mjs schemaStats).
 */
export async function storeStats(dataDir) {
  const schema = pgSchemas.get(dataDir)
  if (!schema) return { store: 'dir', ...(await dirStats(dataDir)) }
  return { store: 'postgres', schema, ...(await schemaStats(schema)) }
}

/**
 * waitDirQuiet for any store. PostgreSQL has no mtimes: there `newest` is the last append's time,
 * or when polling last saw the documents' rows change if later (a compaction; only as exact as
 * pollMs, and missed if it ended before the first poll).
 */
export function waitStoreQuiet(dataDir, options) {
  const schema = pgSchemas.get(dataDir)
  if (!schema) return waitDirQuiet(dataDir, options)
  let changedAt = 0
  let previous = null
  return waitQuiet(async () => {
    const s = await schemaStats(schema)
    if (previous !== null && s.fingerprint !== previous) changedAt = performance.timeOrigin + performance.now()
    previous = s.fingerprint
    return { store: 'postgres', schema, ...s, newest: Math.max(s.lastAppendMs, changedAt), signature: s.fingerprint }
  }, options)
}

/** Polls `probe` until its signature has not changed for `quietMs` (bounded by `maxMs`). */
async function waitQuiet(probe, { quietMs = 1000, maxMs = 10_000, pollMs = 200 } = {}) {
  const start = performance.now()
  let last = await probe()
  let since = performance.now()
  while (performance.now() - start < maxMs) {
    await sleep(pollMs)
    const now = await probe()
    if (now.signature !== last.signature) {
      last = now
      since = performance.now()
    } else if (performance.now() - since >= quietMs) {
      return { ...now, waitedMs: performance.now() - start, quiet: true }
    }
  }
  return { ...last, waitedMs: performance.now() - start, quiet: false }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** A fresh temporary data directory. */
export async function tempDataDir(prefix = 'quire-bench-') {
  installExitHooks()
  const dir = await mkdtemp(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

/** Removes a data dir, and the PostgreSQL schema named after it if a server used one. */
export async function removeDir(dir) {
  tempDirs.delete(dir)
  await rm(dir, { recursive: true, force: true, maxRetries: 3 })
  const schema = pgSchemas.get(dir)
  if (schema) {
    pgSchemas.delete(dir)
    await dropSchema(schema)
  }
}

/** Keeps a temporary data dir after the bench exits (for inspection; a schema goes with the database anyway). */
export function keepDir(dir) {
  tempDirs.delete(dir)
}

/**
 * @typedef {object} ServerHandle
 * @property {string} kind
 * @property {import('./targets.mjs').Capabilities} can
 * @property {'y-websocket' | 'hocuspocus'} protocol the framing its clients speak (BenchClient's `protocol`)
 * @property {number} pid
 * @property {number} port
 * @property {string} host
 * @property {string} url ws://host:port
 * @property {string} dataDir names the storage; for PostgreSQL kinds only through its schema
 * @property {string | null} schema the PostgreSQL schema, for kinds that store there
 * @property {number} startMs from spawning the process until it reported its port
 * @property {() => number} cpuSeconds
 * @property {() => {rss: number, hwm: number}} memory
 * @property {string[]} problems warn/error log lines and stderr output seen so far
 * @property {string[]} stdoutTail the last stdout lines (at most 50)
 * @property {(timeoutMs?: number) => Promise<{code: number|null, signal: string|null}>} stop SIGTERM, then SIGKILL
 * @property {(signal?: NodeJS.Signals) => Promise<{code: number|null, signal: string|null}>} kill
 *   sends the signal at once (synchronously) and resolves when the process is gone
 */

/**
 * Starts a server and resolves once it reported its port. Kinds that cannot report a port they
 * did not choose get a free one from the bench (retried if another process took it meanwhile).
 * @param {{kind?: string, dataDir?: string, host?: string, nodeArgs?: string[], env?: Record<string,string>, startTimeoutMs?: number}} [options]
 * @returns {Promise<ServerHandle>}
 */
export async function startServer(options = {}) {
  installExitHooks()
  const kindName = options.kind ?? 'quire'
  const kind = SERVERS[kindName]
  if (!kind) throw new Error(`unknown server kind ${kindName}; known: ${Object.keys(SERVERS).join(', ')}`)
  if (!kind.command) throw new Error(`${kindName} is not one process: its scenario starts it (bench/targets.mjs)`)
  const dataDir = options.dataDir ?? (await tempDataDir())
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(kindName, kind, dataDir, options)
    } catch (error) {
      if (!kind.needsPort || attempt >= 3 || !/EADDRINUSE/.test(String(error?.message))) throw error
    }
  }
}

async function startOnce(kindName, kind, dataDir, options) {
  const host = options.host ?? '127.0.0.1'
  let database = null
  if (kind.store === 'postgres') {
    database = { url: await benchDatabaseUrl(), schema: schemaFor(dataDir) }
    pgSchemas.set(dataDir, database.schema)
  }
  const spawnedAt = performance.now()
  const { args, env } = kind.command({ dataDir, host, port: kind.needsPort ? await freePort(host) : 0, database })
  // One-off investigations: BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof
  // --require ./bench/profile-exit.cjs". The profile is written when the server exits cleanly, which
  // stop() asks for with SIGTERM; the preload makes servers without a SIGTERM handler exit cleanly.
  const extraNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const child = spawn(process.execPath, [...extraNodeArgs, ...(options.nodeArgs ?? []), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(child)
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child)
      resolve({ code, signal })
    })
  })
  /** @type {string[]} */
  const problems = []
  /** @type {string[]} */
  const stdoutTail = []
  const note = (line) => {
    // The bench runs every server without authentication on purpose: that warning is expected.
    if (line.includes('AUTHENTICATION IS OFF')) return
    if (problems.length < 200) problems.push(line.slice(0, 500))
  }

  const port = await new Promise((resolvePort, reject) => {
    let buffered = ''
    let found = false
    const timeoutMs = options.startTimeoutMs ?? 15000
    const timer = setTimeout(() => reject(new Error(`${kindName} did not report its port within ${timeoutMs} ms`)), timeoutMs)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      buffered += chunk
      let nl
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        stdoutTail.push(line.slice(0, 500))
        if (stdoutTail.length > 50) stdoutTail.shift()
        if (!found) {
          const p = kind.parsePort(line)
          if (p) {
            found = true
            clearTimeout(timer)
            resolvePort(p)
          }
        }
        if (kind.isProblem(line)) note(line)
      }
      if (buffered.length > 1e6) buffered = '' // never hold an unbounded partial line
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk) => note(`stderr: ${chunk.trim()}`))
    exited.then(({ code, signal }) => {
      if (!found) {
        clearTimeout(timer)
        reject(new Error(`${kindName} exited (code ${code}, signal ${signal}) before listening: ${problems.join(' | ')}`))
      }
    })
  }).catch((error) => {
    child.kill('SIGKILL')
    throw error
  })

  let stopped = null
  const running = () => child.exitCode === null && child.signalCode === null
  return {
    kind: kindName,
    can: kind.can,
    protocol: kind.protocol ?? 'y-websocket',
    pid: child.pid,
    port,
    host,
    url: `ws://${host}:${port}`,
    dataDir,
    schema: database?.schema ?? null,
    startMs: performance.now() - spawnedAt,
    problems,
    stdoutTail,
    cpuSeconds: () => cpuSeconds(child.pid),
    memory: () => memory(child.pid),
    stop: (timeoutMs = 10_000) => {
      stopped ??= (async () => {
        if (running()) child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
        const result = await exited
        clearTimeout(timer)
        return result
      })()
      return stopped
    },
    kill: (signal = 'SIGKILL') => {
      if (running()) child.kill(signal)
      stopped ??= exited
      return stopped
    },
  }
}
