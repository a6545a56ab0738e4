/**
 * Test harness for the real CLI: `node dist/cli.js serve` as a child process, so tests can send it
 * signals (SIGTERM, SIGKILL) and watch its exit code and output. Needs `npm run build` first
 * (`npm test` does that in pretest). Call `killChildren()` in afterEach.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type * as Y from 'yjs'
import type { WebsocketProvider } from 'y-websocket'
import { SETTINGS } from '../src/config.js'
import { withTimeout } from './helpers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface CliProcess {
  child: ChildProcess
  pid: number
  /** Resolves once the process has exited and its stdout/stderr are fully read. */
  exited: Promise<Exit>
  readonly stdout: string
  readonly stderr: string
  /** Sends `signal` (default SIGKILL) unless the process already exited; resolves at exit. */
  kill(signal?: NodeJS.Signals): Promise<Exit>
}

export interface ChildServer extends CliProcess {
  url: string
  port: number
  host: string
}

const running = new Set<CliProcess>()

// Last resort if the test worker itself dies: never leave servers holding ports and data dirs.
process.on('exit', () => {
  for (const proc of running) proc.child.kill('SIGKILL')
})

/** Kills (SIGKILL) every child still running and waits for them to exit. */
export async function killChildren(): Promise<void> {
  await Promise.all([...running].map((proc) => proc.kill('SIGKILL')))
}

/**
 * Spawns `quire serve ...args` without waiting for anything. The child's environment is ours minus
 * every Quire setting (so a PORT or DATA_DIR in the runner's shell cannot leak in), plus `env`.
 */
export function spawnCli(args: string[], env: Record<string, string> = {}): CliProcess {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`)
  const childEnv: NodeJS.ProcessEnv = { ...process.env }
  for (const setting of Object.values(SETTINGS)) delete childEnv[setting.env]
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    cwd: ROOT,
    env: { ...childEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', reject)
    // 'close' rather than 'exit': it comes after the output pipes are drained.
    child.once('close', (code, signal) => resolve({ code, signal }))
  })
  const proc: CliProcess = {
    child,
    pid: child.pid!,
    exited,
    get stdout() {
      return stdout
    },
    get stderr() {
      return stderr
    },
    kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
  running.add(proc)
  void exited.finally(() => running.delete(proc)).catch(() => {})
  return proc
}

/**
 * Starts `quire serve` with PORT=0 HOST=127.0.0.1 DATA_DIR=dataDir (overridable through `env`
 * and `args`) and resolves once it logged the address it listens on.
 */
export async function startChild(options: { dataDir: string; args?: string[]; env?: Record<string, string> }): Promise<ChildServer> {
  const proc = spawnCli(options.args ?? [], { PORT: '0', HOST: '127.0.0.1', DATA_DIR: options.dataDir, ...options.env })
  const address = await withTimeout(listeningAddress(proc), 10_000, 'the child server to listen').catch(async (error: Error) => {
    await proc.kill('SIGKILL')
    throw new Error(`${error.message}\nstdout: ${proc.stdout}\nstderr: ${proc.stderr}`)
  })
  const port = Number(address.port)
  return Object.assign(proc, { url: `ws://${address.host}:${port}`, port, host: address.host })
}

/** Watches stdout for pino's `Server listening at http://HOST:PORT`; rejects if the child exits first. */
function listeningAddress(proc: CliProcess): Promise<{ host: string; port: string }> {
  return new Promise((resolve, reject) => {
    let pending = ''
    const onData = (chunk: string) => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop()!
      for (const line of lines) {
        let msg: unknown
        try {
          msg = (JSON.parse(line) as { msg?: unknown }).msg
        } catch {
          continue // not a log line
        }
        const match = typeof msg === 'string' ? /^Server listening at https?:\/\/(.+):(\d+)$/.exec(msg) : null
        if (match) {
          proc.child.stdout!.off('data', onData)
          return resolve({ host: match[1]!, port: match[2]! })
        }
      }
    }
    proc.child.stdout!.on('data', onData)
    void proc.exited.then((exit) => reject(new Error(`child exited before listening: ${JSON.stringify(exit)}`)), reject)
  })
}

/**
 * Runs `read` on the provider's document inside its first `sync(true)` handler, i.e. exactly when
 * the server's SyncStep2 has been applied, and resolves with the result. Register it before the
 * provider receives anything (right after constructing it).
 */
export function atFirstSync<T>(provider: WebsocketProvider, read: (doc: Y.Doc) => T, timeoutMs = 10_000): Promise<T> {
  if (provider.synced) return Promise.reject(new Error('provider already synced: register atFirstSync earlier'))
  return withTimeout(
    new Promise<T>((resolve, reject) => {
      const onSync = (state: boolean) => {
        if (!state) return
        provider.off('sync', onSync)
        try {
          resolve(read(provider.doc))
        } catch (error) {
          reject(error as Error)
        }
      }
      provider.on('sync', onSync)
    }),
    timeoutMs,
    'the first sync',
  )
}
