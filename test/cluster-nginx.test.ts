/**
 * docker-compose.cluster.yml without Docker: the same programs on this machine. Two `quire serve`
 * children share one PostgreSQL database and one Redis, behind nginx running deploy/nginx.conf
 * itself, changed only where a container differs from a test: the upstream addresses, the
 * listening port and the paths an nginx that is not the system's may write. Clients only ever
 * talk to nginx. nginx must be installed (`apt-get install nginx-light`, as .ci/run does): the test
 * fails without it, it never skips.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { chmod, writeFile } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { WebsocketProvider } from 'y-websocket'
import { cleanup, connect, synced, tempDir, waitFor, withTimeout } from './helpers.js'
import { killChildren, startChild, type ChildServer } from './child-server.js'
import { createTestDatabase, randomSchema, type TestDatabase } from './postgres-helpers.js'
import { SHARED_REDIS_URL, dropPrefix, freePort, randomPrefix, requireSharedRedis } from './cluster-helpers.js'

const NGINX_CONF = join(import.meta.dirname, '../deploy/nginx.conf')

/** The nginx binary, or a failure that says how to get one. */
function nginxBinary(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin']
  const found = dirs.filter(Boolean).map((dir) => join(dir, 'nginx')).find((path) => existsSync(path))
  if (!found) {
    throw new Error('nginx is needed for this test and is not installed: run `apt-get install -y nginx-light` (Debian/Ubuntu; .ci/run does it)')
  }
  return found
}

/** Replaces the line matching `from` (which must match exactly once) with `to`, so a change to the file cannot slip past. */
function replaceOnce(text: string, from: RegExp, to: string): string {
  const pattern = new RegExp(from.source, 'gm')
  const count = [...text.matchAll(pattern)].length
  if (count !== 1) throw new Error(`deploy/nginx.conf: expected ${String(from)} once, found it ${count} times`)
  return text.replace(pattern, to)
}

/**
 * deploy/nginx.conf for this machine: the upstream's `server quire-N:1234;` lines point at the
 * children, nginx listens on `port` of loopback, and what it writes goes under `dir`.
 */
function localConf(upstreams: number[], port: number, dir: string): string {
  let conf = readFileSync(NGINX_CONF, 'utf8')
  upstreams.forEach((upstream, i) => {
    conf = replaceOnce(conf, new RegExp(`^(\\s*)server quire-${i + 1}:1234;$`), `$1server 127.0.0.1:${upstream};`)
  })
  if (/^\s*server quire-/m.test(conf)) throw new Error('deploy/nginx.conf lists more instances than the test starts')
  conf = replaceOnce(conf, /^(\s*)listen 80;$/, `$1listen 127.0.0.1:${port};`)
  conf = replaceOnce(conf, /^(\s*)access_log \/dev\/stdout;$/, `$1access_log ${dir}/access.log;`)
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `    ${kind}_temp_path ${dir}/${kind};\n`).join('')
  return replaceOnce(conf, /^http \{$/, `http {\n${temp}`)
}

interface Nginx {
  url: string
  port: number
  stop(): Promise<void>
}

async function startNginx(upstreams: number[]): Promise<Nginx> {
  const binary = nginxBinary()
  const dir = await tempDir('quire-nginx-')
  // Run as root, nginx's workers drop to `nobody`: they must reach the temporary directories.
  await chmod(dir, 0o755)
  const port = await freePort()
  const confPath = join(dir, 'nginx.conf')
  await writeFile(confPath, localConf(upstreams, port, dir))
  // A process group of its own: the master and its workers can be killed together if it does not stop.
  const child: ChildProcess = spawn(binary, ['-e', 'stderr', '-c', confPath, '-g', `daemon off; pid ${dir}/nginx.pid;`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  child.once('error', (error) => (output += String(error)))
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  process.once('exit', killGroup)
  const stop = async () => {
    // SIGTERM is nginx's fast shutdown: open WebSockets are closed, not waited for (SIGQUIT would wait).
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await withTimeout(exited, 5000, 'nginx to stop').catch(async () => {
      killGroup()
      await exited
    })
    process.off('exit', killGroup)
  }
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode})`)
      const response = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null)
      return response?.status === 200
    }, 'nginx to answer /healthz from an instance')
  } catch (error) {
    await stop()
    throw new Error(`${(error as Error).message}\nnginx output:\n${output}`, { cause: error })
  }
  return { url: `ws://127.0.0.1:${port}`, port, stop }
}

/** Open WebSockets on one instance, from its /metrics (asked directly, not through nginx). */
async function openConnections(server: ChildServer): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()
  const match = /^quire_connections (\d+)$/m.exec(text)
  if (!match) throw new Error('quire_connections missing from /metrics')
  return Number(match[1])
}

const textOf = (p: WebsocketProvider) => p.doc.getText('t').toString()
const nameSeenBy = (seer: WebsocketProvider, seen: WebsocketProvider) =>
  (seer.awareness.getStates().get(seen.awareness.clientID) as { user?: { name?: string } } | undefined)?.user?.name

async function converged(providers: WebsocketProvider[], marks: string[], what: string): Promise<void> {
  await waitFor(() => {
    const first = textOf(providers[0]!)
    return marks.every((mark) => first.includes(mark)) && providers.every((p) => textOf(p) === first)
  }, what, 15_000)
}

let database: TestDatabase | undefined
let nginx: Nginx | undefined
const prefix = randomPrefix()
let instances: ChildServer[] = []

/**
 * The compose file's services: two instances started together (as `docker compose up` does once
 * PostgreSQL and Redis are healthy) on a fresh database, then nginx in front of them. Called in the
 * test rather than a hook, so that a missing nginx is reported as that test failing.
 */
async function startCluster(): Promise<Nginx> {
  nginxBinary() // first, so a missing nginx is the failure reported
  await requireSharedRedis()
  database = await createTestDatabase()
  const schema = randomSchema()
  const dataDir = await tempDir() // unused with DATABASE_URL, but startChild sets DATA_DIR
  instances = await Promise.all(
    [1, 2].map((n) =>
      startChild({
        dataDir,
        env: { DATABASE_URL: database!.url, DATABASE_SCHEMA: schema, REDIS_URL: SHARED_REDIS_URL, REDIS_PREFIX: prefix, INSTANCE_ID: `quire-${n}` },
      }),
    ),
  )
  nginx = await startNginx(instances.map((instance) => instance.port))
  return nginx
}

afterAll(async () => {
  await nginx?.stop()
  await killChildren()
  await cleanup() // providers, temporary directories
  await database?.drop()
  await dropPrefix(prefix)
}, 30_000)

describe('two instances behind deploy/nginx.conf', () => {
  it('serves the demo page, REST and one document to clients on both instances, and survives losing one', async () => {
    const proxy = await startCluster()
    const page = await fetch(`http://127.0.0.1:${proxy.port}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)

    // One after the other, so least_conn sees the first socket when the second arrives.
    const a = connect(proxy.url, 'through nginx')
    await synced(a)
    const b = connect(proxy.url, 'through nginx')
    await synced(b)
    // One on each instance: what follows crosses from one to the other (over Redis).
    expect(await Promise.all(instances.map(openConnections))).toEqual([1, 1])

    a.doc.getText('t').insert(0, '[a1]')
    b.doc.getText('t').insert(0, '[b1]')
    await converged([a, b], ['[a1]', '[b1]'], 'both clients to hold both edits')

    a.awareness.setLocalStateField('user', { name: 'ada' })
    b.awareness.setLocalStateField('user', { name: 'bob' })
    await waitFor(() => nameSeenBy(b, a) === 'ada' && nameSeenBy(a, b) === 'bob', 'each client to see the other\'s presence')

    // REST through nginx, whichever instance answers.
    const restUrl = `http://127.0.0.1:${proxy.port}/api/docs/${encodeURIComponent('through nginx')}`
    await waitFor(async () => (await (await fetch(`${restUrl}/text?key=t`)).text()) === textOf(a), 'REST to read what the clients wrote')
    const info = await fetch(restUrl)
    expect(info.status).toBe(200)
    expect(await info.json()).toMatchObject({ name: 'through nginx' })

    // One instance dies without a goodbye. Its client reconnects through nginx, which skips the dead
    // instance, and edits made meanwhile on either side reach the other.
    const [dead, survivor] = instances as [ChildServer, ChildServer]
    await dead.kill('SIGKILL')
    a.doc.getText('t').insert(textOf(a).length, '[a2]')
    b.doc.getText('t').insert(textOf(b).length, '[b2]')
    await waitFor(async () => (await openConnections(survivor)) === 2, 'both clients to be on the surviving instance', 15_000)
    await waitFor(() => [a, b].every((p) => p.wsconnected && p.synced), 'both clients to be connected and synced again', 15_000)
    await converged([a, b], ['[a1]', '[b1]', '[a2]', '[b2]'], 'both clients to hold the edits made around the crash')

    a.doc.getText('t').insert(0, '[a3]')
    b.doc.getText('t').insert(0, '[b3]')
    await converged([a, b], ['[a1]', '[b1]', '[a2]', '[b2]', '[a3]', '[b3]'], 'both clients to keep editing together')
    a.awareness.setLocalStateField('user', { name: 'ada again' })
    await waitFor(() => nameSeenBy(b, a) === 'ada again', 'presence to pass after the crash')

    // A fresh client through nginx, and REST, get everything from the survivor.
    const late = connect(proxy.url, 'through nginx')
    await synced(late)
    await waitFor(() => textOf(late) === textOf(a), 'a late client to see everything')
    expect(await (await fetch(`${restUrl}/text?key=t`)).text()).toBe(textOf(a))
  }, 60_000)
})
