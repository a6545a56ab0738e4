/**
 * Property: whatever clients do (edit text and map entries, type bursts of one-character updates,
 * go offline, edit offline, come back, keep typing while reconnecting) and however the server
 * stops (SIGTERM; SIGKILL; SIGKILL inside the handler of the next update a client receives; then a
 * new process on the same data dir):
 *
 * - after every restart, before any client is back, a fresh client gets every update the server
 *   had sent to any client (it only sends what is committed, so none may be lost), and the room
 *   it loads starts with the quota estimate at the stored size;
 * - the server never closes a client's connection except when it stops: the clients behave, so
 *   a refusal (1007, 1008, 1011, 1013, 44xx) or a cut socket is a failure;
 * - at the end, all clients, the server and a fresh client hold the same content;
 * - at every quiet point (a settle() action, and the end), within the server life: stored updates
 *   grew exactly by the appends the metrics counted, stored bytes by
 *   quire_storage_appended_bytes_total, each loaded room's quota estimate equals its stored size,
 *   monitors (when present) were relayed those appends (in at most as many frames: appends committed
 *   together arrive merged), and rooms and connections are
 *   counted right — each size equality only where no compaction can have interfered (accounting.ts);
 * - once every client left, the stored size is the size of the compacted state it serves, and a
 *   room loaded again starts with the quota estimate at that size.
 *
 * Real `quire serve` processes (dist/cli.js: build first), real providers, real LevelDB. Modules:
 * scenario.ts (what a run does), world.ts (the run's verbs and whole-world checks), accounting.ts
 * (sizes, metrics, quota), server.ts (the process and its HTTP API), clients.ts (providers and
 * what they record), content.ts (comparing replicas). Environment: FC_SEED, FC_RUNS, FC_PATH
 * (with FC_SEED: replay a counterexample), FC_SHRINK_MS (shrinking budget, default 120 s),
 * FC_VERBOSE=1 (one line per run).
 */
import { afterEach, describe, it } from 'vitest'
import fc from 'fast-check'
import { cleanup, tempDir } from '../helpers.js'
import { killChildren } from '../child-server.js'
import { canonical, missingFrom } from './content.js'
import { apply, scenario, type Scenario } from './scenario.js'
import { World } from './world.js'

afterEach(async () => {
  await killChildren()
  await cleanup()
})

const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20_261_129
/**
 * A run costs about 1.1 s per server life on a quiet 2-core machine, nearly all of it the new
 * process loading its modules (the summary line says how much), plus about 0.5 s: the default
 * seed's first 15 runs have 29 lives, about 40 s (20 runs: 44 lives, about 60 s).
 */
const RUNS = Number(process.env.FC_RUNS ?? 15)
const SHRINK_MS = Number(process.env.FC_SHRINK_MS ?? 120_000)
/** Over every run: server processes started, and the time spent waiting for them to listen. */
const spent = { lives: 0, startingMs: 0 }

async function run(s: Scenario): Promise<void> {
  const started = Date.now()
  const world = new World({
    dataDir: await tempDir('quire-property-'),
    placement: s.placement.map((p) => `doc${p}`),
    monitor: s.monitor,
    compactAfterUpdates: s.compactAfterUpdates,
  })
  let step = 'start'
  const timings: string[] = []
  let t = Date.now()
  const lap = (what: string) => {
    const now = Date.now()
    if (now - t >= 100) timings.push(`${what}:${now - t}ms`)
    t = now
  }
  try {
    await world.start()
    lap('start')
    for (const [n, a] of s.actions.entries()) {
      step = `action ${n + 1} (${fc.stringify(a)})`
      await apply(world, a)
      world.clients.closes.assertNone()
      lap(fc.stringify(a))
    }
    step = 'convergence'
    const content = await world.converge()
    for (const name of world.docNames) {
      const fresh = await world.freshState(name)
      if (canonical(fresh.content) !== canonical(content.get(name))) {
        throw new Error(`${name}: a fresh client got ${canonical(fresh.content)}, the clients hold ${canonical(content.get(name))}`)
      }
      const missing = missingFrom(fresh.state, world.clients.echoed.get(name)!)
      if (missing) throw new Error(`${name}, durability with everyone connected: ${missing}`)
    }
    world.clients.closes.assertNone()
    lap('converge')
    step = 'accounting'
    const accounted = await world.checkAccounting()
    lap('accounting')
    step = 'unload'
    await world.checkUnloaded(content)
    lap('unload')
    step = 'stop'
    await world.stop()
    world.clients.closes.assertNone()
    lap('stop')
    if (process.env.FC_VERBOSE) console.log(`ok in ${((Date.now() - started) / 1000).toFixed(1)} s: ${fc.stringify(s)}\n  ${timings.join(' ')}\n  checked at the end: ${accounted}`)
  } catch (error) {
    const log = world.serverLog()
    throw new Error(`${step}: ${(error as Error).message}${log ? `\nserver warnings and errors:\n${log}` : ''}`, { cause: error })
  } finally {
    spent.lives += world.lives
    spent.startingMs += world.startingMs
    await world.dispose()
  }
}

describe('property: convergence and durability under edits, disconnects and restarts', () => {
  it(
    'clients converge, echoed updates survive SIGTERM and SIGKILL, stored sizes, quota and metrics add up',
    async () => {
      console.log(`fast-check seed ${SEED}, ${RUNS} runs (FC_SEED, FC_RUNS to override)`)
      let failedAt: number | null = null
      const started = Date.now()
      await fc.assert(
        fc.asyncProperty(scenario, async (s) => {
          // Past the shrinking budget, every further candidate passes: shrinking ends quickly with the smallest failure so far.
          if (failedAt !== null && Date.now() - failedAt > SHRINK_MS) return
          try {
            await run(s)
          } catch (error) {
            failedAt ??= Date.now()
            throw error
          }
        }),
        {
          seed: SEED,
          numRuns: RUNS,
          ...(process.env.FC_PATH && { path: process.env.FC_PATH }),
        },
      )
      console.log(
        `${RUNS} runs in ${((Date.now() - started) / 1000).toFixed(1)} s, ` +
          `${(spent.startingMs / 1000).toFixed(1)} s of it starting ${spent.lives} server processes`,
      )
    },
    30 * 60_000,
  )
})
