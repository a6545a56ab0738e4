/**
 * Starts a collaboration server as a child process, the way a user runs it, and reads the
 * server process's own CPU time and memory from /proc.
 *
 * Each server kind is a small descriptor (command line + how to find its port), so the suite can
 * later run the same scenarios against the reference y-websocket server: add an entry to SERVERS.
 *
 * Every child started here is killed when the bench process exits, crashes or is interrupted.
 */
import { spawn, execFileSync } from 'node:child_process'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * @typedef {object} ServerKind
 * @property {string} label
 * @property {(o: {dataDir: string, host: string}) => {args: string[], env: Record<string,string>}} command
 *   node arguments (after any extra node flags) and environment
 * @property {(line: string) => number | null} parsePort port from one stdout line, or null
 * @property {boolean} persistent whether the server keeps documents in dataDir
 */

/** @type {Record<string, ServerKind>} */
export const SERVERS = {
  quire: {
    label: 'Quire (node dist/cli.js serve)',
    command: ({ dataDir, host }) => ({
      args: [join(PROJECT_ROOT, 'dist', 'cli.js'), 'serve'],
      env: { PORT: '0', HOST: host, DATA_DIR: dataDir },
    }),
    parsePort: (line) => {
      // pino JSON line: {"level":30,...,"msg":"Server listening at http://127.0.0.1:PORT"}
      if (!line.startsWith('{')) return null
      let entry
      try {
        entry = JSON.parse(line)
      } catch {
        return null
      }
      const m = /^Server listening at https?:\/\/(?:127\.0\.0\.1|\[?::1\]?|localhost):(\d+)$/.exec(entry.msg ?? '')
      return m ? Number(m[1]) : null
    },
    persistent: true,
  },
  // Later: 'y-websocket': { command: ... HOST/PORT/YPERSISTENCE ..., parsePort: /running at .*:(\d+)/ }
}

const live = new Set()
/** Temporary data dirs made by tempDataDir() and not yet removed; deleted on exit too. */
const tempDirs = new Set()
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
export async function waitDirQuiet(dir, { quietMs = 1000, maxMs = 10_000, pollMs = 200 } = {}) {
  const start = performance.now()
  let last = await dirStats(dir)
  let since = performance.now()
  while (performance.now() - start < maxMs) {
    await sleep(pollMs)
    const now = await dirStats(dir)
    if (now.bytes !== last.bytes || now.newest !== last.newest || now.files !== last.files) {
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

export async function removeDir(dir) {
  tempDirs.delete(dir)
  await rm(dir, { recursive: true, force: true, maxRetries: 3 })
}

/** Keeps a temporary data dir after the bench exits (for inspection). */
export function keepDir(dir) {
  tempDirs.delete(dir)
}

/**
 * @typedef {object} ServerHandle
 * @property {string} kind
 * @property {number} pid
 * @property {number} port
 * @property {string} host
 * @property {string} url ws://host:port
 * @property {string} dataDir
 * @property {() => number} cpuSeconds
 * @property {() => {rss: number, hwm: number}} memory
 * @property {string[]} problems warn/error log lines and stderr output seen so far
 * @property {(timeoutMs?: number) => Promise<{code: number|null, signal: string|null}>} stop SIGTERM, then SIGKILL
 */

/**
 * Starts a server and resolves once it logged its port.
 * @param {{kind?: string, dataDir?: string, host?: string, nodeArgs?: string[], env?: Record<string,string>, startTimeoutMs?: number}} [options]
 * @returns {Promise<ServerHandle>}
 */
export async function startServer(options = {}) {
  installExitHooks()
  const kindName = options.kind ?? 'quire'
  const kind = SERVERS[kindName]
  if (!kind) throw new Error(`unknown server kind ${kindName}; known: ${Object.keys(SERVERS).join(', ')}`)
  const host = options.host ?? '127.0.0.1'
  const dataDir = options.dataDir ?? (await tempDataDir())
  const { args, env } = kind.command({ dataDir, host })
  // One-off investigations: BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (the
  // profile is written when the server exits cleanly, which stop() asks for with SIGTERM).
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
  const note = (line) => {
    if (problems.length < 200) problems.push(line.slice(0, 500))
  }

  const port = await new Promise((resolvePort, reject) => {
    let buffered = ''
    let found = false
    const timer = setTimeout(() => {
      reject(new Error(`${kindName} did not report its port within ${options.startTimeoutMs ?? 15000} ms`))
    }, options.startTimeoutMs ?? 15000)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      buffered += chunk
      let nl
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        if (!found) {
          const p = kind.parsePort(line)
          if (p) {
            found = true
            clearTimeout(timer)
            resolvePort(p)
          }
        }
        // pino: level 40 = warn, 50 = error, 60 = fatal
        const level = /"level":(\d+)/.exec(line)
        if (level && Number(level[1]) >= 40) note(line)
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
  return {
    kind: kindName,
    pid: child.pid,
    port,
    host,
    url: `ws://${host}:${port}`,
    dataDir,
    problems,
    cpuSeconds: () => cpuSeconds(child.pid),
    memory: () => memory(child.pid),
    stop: (timeoutMs = 10_000) => {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
        const result = await exited
        clearTimeout(timer)
        return result
      })()
      return stopped
    },
  }
}
