/**
 * The servers the bench compares, as small descriptors: how to start each one as a child process
 * (always `process.execPath` directly on its entry script, so /proc/<pid> is the server itself),
 * how it reports that it listens, and what it can do.
 *
 *   quire        `node dist/cli.js serve` on a fresh DATA_DIR, PORT=0 (it logs the port it got)
 *   quire-pg     the same on PostgreSQL: DATABASE_URL of the bench's own database, a fresh
 *                DATABASE_SCHEMA per data dir (bench/databases.mjs)
 *   quire-cluster  two quire-pg processes sharing one schema and a Redis bus; not one process, so
 *                only the cluster scenario, which starts them, applies to it
 *   y-websocket  the reference server of y-websocket@1.5.4 (devDependency alias `y-websocket-ref`),
 *                `node bin/server.js` with YPERSISTENCE=<dir> (y-leveldb). It prints the port it was
 *                given, so PORT=0 would be useless: the bench picks a free port itself.
 *   hocuspocus   Hocuspocus 4 (`@hocuspocus/server` + `@hocuspocus/extension-sqlite`, installed apart in
 *                bench/peers so installing Quire does not build SQLite) through bench/peers/hocuspocus-server.mjs: the documents in <dataDir>/hocuspocus.sqlite,
 *                PORT=0, quiet. Its clients speak the Hocuspocus framing (document name before
 *                every message, Auth first: bench/client.mjs).
 *   quire-b      another build of Quire (BENCH_QUIRE_B=<its dist dir>, optionally BENCH_QUIRE_B_NODE_ARGS), for A/B
 *                runs against `quire`; only with --target
 *   floor        bench/floor-relay.mjs, a raw `ws` relay that forwards every frame to the other
 *                sockets of the same path without decoding. It stores nothing and does no sync.
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const REF_DIR = join(PROJECT_ROOT, 'node_modules', 'y-websocket-ref')
export const PEERS_DIR = join(PROJECT_ROOT, 'bench', 'peers')
const PEERS_NM = join(PEERS_DIR, 'node_modules')
export const HOCUSPOCUS_DIR = join(PEERS_NM, '@hocuspocus', 'server')

/**
 * @typedef {object} Capabilities
 * @property {boolean} sync answers the y-websocket handshake (SyncStep1/2) from a server-side doc
 * @property {boolean} storage keeps documents in its data dir across restarts
 * @property {boolean} echo relays an update back to its sender too
 * @property {boolean} cluster can run as several instances serving the same documents
 */

/**
 * @typedef {object} ServerKind
 * @property {string} label
 * @property {string} [short] name in the ratio column's head (default: the kind's key)
 * @property {'y-websocket' | 'hocuspocus'} [protocol] the framing its clients speak (default y-websocket)
 * @property {Capabilities} can
 * @property {Partial<Record<keyof Capabilities, string>>} [lacks] why a capability is missing, where "has no X" says too little
 * @property {'postgres'} [store] stores in PostgreSQL: started with the bench database and a schema of its own
 * @property {number} [instances] processes the scenario starts (default 1)
 * @property {string[]} [only] the only scenarios it applies to
 * @property {string[]} [byDefault] without --target it runs only in these scenarios (to keep the full run short)
 * @property {string} [baseline] a variant of that target: the table shows this ÷ baseline
 * @property {boolean} [needsPort] the bench must choose the port (the server cannot report PORT=0)
 * @property {(o: {dataDir: string, host: string, port: number, database: {url: string, schema: string} | null}) => {args: string[], env: Record<string,string>}} [command]
 *   node arguments (after any extra node flags) and environment; absent for a kind that is not one process
 * @property {(line: string) => number | null} [parsePort] port from one stdout line, or null
 * @property {(line: string) => boolean} [isProblem] whether a stdout line is a warning or error
 */

/** pino JSON line at warn (40) or above. */
const pinoProblem = (line) => {
  const level = /"level":(\d+)/.exec(line)
  return level !== null && Number(level[1]) >= 40
}

/** pino JSON line: {"level":30,...,"msg":"Server listening at http://127.0.0.1:PORT"} */
const quirePort = (line) => {
  if (!line.startsWith('{')) return null
  let entry
  try {
    entry = JSON.parse(line)
  } catch {
    return null
  }
  const m = /^Server listening at https?:\/\/(?:127\.0\.0\.1|\[?::1\]?|localhost):(\d+)$/.exec(entry.msg ?? '')
  return m ? Number(m[1]) : null
}

const quireCommand = (storeEnv, dist = join(PROJECT_ROOT, 'dist'), nodeArgs = ['--max-semi-space-size=4']) => ({
  // As `npm start`, the `quire` command and the Docker image run it (README "Memory").
  args: [...nodeArgs, join(dist, 'cli.js'), 'serve'],
  // bigdoc replays a 260k-transaction trace as fast as the server echoes, one message per
  // transaction: by design past the per-connection message rate limit (README "Limits").
  // DATABASE_URL and REDIS_URL are always set, to '' if unused: one exported in the shell that
  // runs the bench must not turn the LevelDB target into something else.
  env: { PORT: '0', MESSAGES_PER_SECOND: '0', DATABASE_URL: '', REDIS_URL: '', ...storeEnv },
})

/** @type {Record<string, ServerKind>} */
export const SERVERS = {
  quire: {
    label: 'Quire',
    can: { sync: true, storage: true, echo: true, cluster: false },
    lacks: { cluster: 'no cluster mode on LevelDB (a data dir belongs to one process): see quire-pg, quire-cluster' },
    needsPort: false,
    command: ({ dataDir, host }) => quireCommand({ HOST: host, DATA_DIR: dataDir }),
    parsePort: quirePort,
    isProblem: pinoProblem,
  },
  'quire-pg': {
    label: 'Quire on PostgreSQL',
    can: { sync: true, storage: true, echo: true, cluster: true },
    store: 'postgres',
    baseline: 'quire',
    // The PostgreSQL path everywhere would add minutes to the full run; these are where the
    // store decides the numbers (relay after commit, long upload, cold load) and the cluster's
    // one-instance baseline. `--target quire-pg` runs it in every scenario.
    byDefault: ['fanout', 'bigdoc', 'cluster'],
    needsPort: false,
    command: ({ host, database }) => quireCommand({ HOST: host, DATABASE_URL: database.url, DATABASE_SCHEMA: database.schema }),
    parsePort: quirePort,
    isProblem: pinoProblem,
  },
  'quire-cluster': {
    label: 'Quire ×2 (PostgreSQL + Redis)',
    can: { sync: true, storage: true, echo: true, cluster: true },
    instances: 2,
    only: ['cluster'],
    baseline: 'quire-pg',
  },
  'y-websocket': {
    label: 'y-websocket 1.5.4',
    can: { sync: true, storage: true, echo: true, cluster: false },
    needsPort: true,
    command: ({ dataDir, host, port }) => ({
      args: [join(REF_DIR, 'bin', 'server.js')],
      env: { HOST: host, PORT: String(port), YPERSISTENCE: dataDir },
    }),
    // console.log(`running at '${host}' on port ${port}`) inside server.listen's callback
    parsePort: (line) => {
      const m = /^running at '[^']*' on port (\d+)$/.exec(line.trim())
      return m ? Number(m[1]) : null
    },
    isProblem: () => false, // it logs errors with console.error: stderr, which is always kept
  },
  hocuspocus: {
    label: `Hocuspocus ${version(HOCUSPOCUS_DIR) ?? '4 (not installed)'}`,
    short: 'Hocuspocus',
    protocol: 'hocuspocus',
    // It echoes an update to its sender too (merged with whatever else arrived in the same
    // event-loop turn); a client counts "the server has my update" by its SyncStatus answers.
    can: { sync: true, storage: true, echo: true, cluster: false },
    lacks: { cluster: 'the cluster scenario runs Quire instances only (Hocuspocus scales with @hocuspocus/extension-redis, not set up here)' },
    needsPort: false,
    command: ({ dataDir, host }) => ({
      args: [join(PEERS_DIR, 'hocuspocus-server.mjs')],
      env: { HOST: host, PORT: '0', DATA_DIR: dataDir },
    }),
    // "hocuspocus 4.7.0 listening on 127.0.0.1:PORT", printed once listen() resolved
    parsePort: (line) => {
      const m = /^hocuspocus \S+ listening on [^ ]+:(\d+)$/.exec(line.trim())
      return m ? Number(m[1]) : null
    },
    isProblem: () => false, // it reports problems with console.warn/error: stderr, which is always kept
  },
  'quire-hp': {
    label: 'Quire (Hocuspocus protocol)',
    protocol: 'hocuspocus',
    // The same Quire, its clients speaking Hocuspocus' framing on the base path (docs/hocuspocus.md):
    // compared with Hocuspocus itself, same load client, same scenarios.
    can: { sync: true, storage: true, echo: true, cluster: false },
    lacks: { cluster: 'the cluster scenario runs y-websocket clients' },
    baseline: 'hocuspocus',
    byDefault: ['fanout', 'rooms', 'idle', 'durability', 'awareness'],
    needsPort: false,
    command: ({ dataDir, host }) => quireCommand({ HOST: host, DATA_DIR: dataDir }),
    parsePort: quirePort,
    isProblem: pinoProblem,
  },
  'quire-b': {
    // A/B of two builds in one alternating run: `cp -r dist dist-b` (inside the project, so its imports resolve), change, build, then
    // BENCH_QUIRE_B=dist-b node bench/run.mjs --target quire,quire-b (ratio: quire-b ÷ quire).
    // BENCH_QUIRE_B_NODE_ARGS replaces the Node flags of that build (e.g. to try a V8 option).
    label: `Quire, build in ${process.env.BENCH_QUIRE_B ?? '$BENCH_QUIRE_B (unset)'}`,
    can: { sync: true, storage: true, echo: true, cluster: false },
    lacks: { cluster: 'see quire' },
    baseline: 'quire',
    byDefault: [], // only with --target
    only: process.env.BENCH_QUIRE_B ? undefined : [],
    needsPort: false,
    command: ({ dataDir, host }) =>
      quireCommand(
        { HOST: host, DATA_DIR: dataDir },
        resolve(PROJECT_ROOT, process.env.BENCH_QUIRE_B ?? 'dist'),
        process.env.BENCH_QUIRE_B_NODE_ARGS?.split(' ').filter(Boolean),
      ),
    parsePort: quirePort,
    isProblem: pinoProblem,
  },
  floor: {
    label: 'floor (raw ws relay)',
    can: { sync: false, storage: false, echo: false, cluster: false },
    needsPort: false,
    command: ({ host }) => ({
      args: [join(PROJECT_ROOT, 'bench', 'floor-relay.mjs')],
      env: { HOST: host, PORT: '0' },
    }),
    parsePort: (line) => {
      const m = /^floor relay listening on [^ ]+:(\d+)$/.exec(line.trim())
      return m ? Number(m[1]) : null
    },
    isProblem: () => false,
  },
}

export const FLOOR_NOTE =
  'floor = a raw `ws` relay that forwards every frame to the other sockets of the same path: it stores nothing, ' +
  'does no sync and sends no echo, so scenarios that need sync or storage are n/a for it'

export const HOCUSPOCUS_NOTE =
  'Hocuspocus = `@hocuspocus/server` with `@hocuspocus/extension-sqlite` (one SQLite file in the data dir) at its ' +
  'defaults, as bench/peers/hocuspocus-server.mjs starts it: it stores a document 2 s after the last change (at most 10 s ' +
  'after the first), and at once when its last client leaves; its 4.x packages declare Node >= 22 and run here on ' +
  'the same Node as every other server'

/**
 * Why a scenario does not apply to a server kind, or null if it does.
 * @param {{name: string, requires?: Array<keyof Capabilities>}} scenario
 * @param {string} kindName
 */
export function notApplicable(scenario, kindName) {
  const kind = SERVERS[kindName]
  if (kind.only && !kind.only.includes(scenario.name)) return `n/a: ${kind.label} runs only in ${kind.only.join(', ')}`
  const missing = (scenario.requires ?? []).filter((c) => !kind.can[c])
  if (missing.length === 0) return null
  return `n/a: ${kind.label}: ${missing.map((c) => kind.lacks?.[c] ?? `has no ${c}`).join(' / ')}`
}

/** Whether a run without --target includes this kind in this scenario. */
export function runsByDefault(scenarioName, kindName) {
  const kind = SERVERS[kindName]
  return (kind.only ?? kind.byDefault)?.includes(scenarioName) ?? true
}

/** A port that was free a moment ago on `host` (the OS picks it; small race, retried by the caller). */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolvePort, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address())
      srv.close(() => resolvePort(port))
    })
  })
}

function version(dir) {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

/** Versions of everything that decides the numbers (each server's own copies where they differ). */
export function packageVersions() {
  const nm = join(PROJECT_ROOT, 'node_modules')
  return {
    quire: version(PROJECT_ROOT),
    yjs: version(join(nm, 'yjs')),
    'y-protocols': version(join(nm, 'y-protocols')),
    lib0: version(join(nm, 'lib0')),
    ws: version(join(nm, 'ws')),
    fastify: version(join(nm, 'fastify')),
    level: version(join(nm, 'level')),
    pg: version(join(nm, 'pg')),
    ioredis: version(join(nm, 'ioredis')),
    'y-websocket (reference server)': version(REF_DIR),
    'ws (reference server)': version(join(REF_DIR, 'node_modules', 'ws')) ?? version(join(nm, 'ws')),
    'y-leveldb (reference server)': version(join(nm, 'y-leveldb')),
    '@hocuspocus/server': version(HOCUSPOCUS_DIR),
    '@hocuspocus/extension-sqlite': version(join(PEERS_NM, '@hocuspocus', 'extension-sqlite')),
    'better-sqlite3 (Hocuspocus)': version(join(PEERS_NM, 'better-sqlite3')),
    'crossws (Hocuspocus, bundles its ws)': version(join(PEERS_NM, 'crossws')),
    'level (y-leveldb)': version(join(nm, 'y-leveldb', 'node_modules', 'level')),
    'y-websocket (bench test client)': version(join(nm, 'y-websocket')),
    '@hocuspocus/provider (bench test client)': version(join(nm, '@hocuspocus', 'provider')),
  }
}
