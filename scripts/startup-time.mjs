/**
 * How long `node dist/cli.js serve` takes from process spawn until it listens, as a user starts it:
 * PORT=0, a fresh DATA_DIR (LevelDB) per start, logs as JSON lines (stdout is a pipe). Prints the
 * median and spread of N starts; the clock stops at the "Server listening at …" log line.
 *
 *   node scripts/startup-time.mjs                 # 15 starts of dist/cli.js
 *   node scripts/startup-time.mjs --runs 30
 *   node scripts/startup-time.mjs --cli /tmp/before/dist/cli.js --cli dist/cli.js   # compare builds: starts alternate
 *   node scripts/startup-time.mjs --breakdown     # also: where the time goes (modules, plugin boot, listen)
 *
 * `npm run build` first. Start-up is a few hundred ms of mostly one core: on a shared machine read
 * medians of at least 10 starts, and compare builds in the same sitting (alternate them).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = fileURLToPath(new URL('..', import.meta.url))
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    cli: { type: 'string', multiple: true, default: [join(root, 'dist', 'cli.js')] },
    breakdown: { type: 'boolean', default: false },
  },
})
const runs = Number(values.runs)
const clis = values.cli.map((path) => resolve(path))

/**
 * With --breakdown, a preload that timestamps the start's steps (performance.now(): ms since the
 * process began) through Fastify's `fastify.initialization` diagnostics channel: when the preload
 * ran (Node itself started), when Fastify was created (cli.js and every module it imports are
 * loaded), onReady (plugins booted: store open, routes registered) and onListen.
 */
const STEPS_HOOK = `data:text/javascript,${encodeURIComponent(`
import { subscribe } from 'node:diagnostics_channel'
const t = { node: performance.now() }
subscribe('fastify.initialization', ({ fastify }) => {
  if (t.imports !== undefined) return
  t.imports = performance.now()
  fastify.addHook('onReady', (done) => { t.ready = performance.now(); done() })
  fastify.addHook('onListen', (done) => { t.listening = performance.now(); process.stderr.write('startup-steps ' + JSON.stringify(t) + '\\n'); done() })
})`)}`

/** One start: ms from spawn to the listening line (and the steps, with --breakdown), then SIGTERM and wait for the exit. */
function startOnce(cli) {
  const dataDir = mkdtempSync(join(tmpdir(), 'quire-startup-'))
  // Unset store/cluster URLs: one exported in this shell must not turn the LevelDB start into something else.
  const env = { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '', LOG_LEVEL: 'info' }
  const args = [...(values.breakdown ? ['--import', STEPS_HOOK] : []), cli, 'serve']
  const started = performance.now()
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  return new Promise((resolvePromise, reject) => {
    let out = ''
    let err = ''
    let listening
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk
      if (listening === undefined && /"msg":"Server listening at /.test(out)) {
        listening = performance.now() - started
        child.kill('SIGTERM')
      }
    })
    child.stderr.setEncoding('utf8').on('data', (chunk) => (err += chunk))
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      rmSync(dataDir, { recursive: true, force: true })
      if (listening === undefined) return reject(new Error(`exited (code ${code}, signal ${signal}) before listening:\n${out}${err}`))
      const steps = /^startup-steps (.*)$/m.exec(err)
      resolvePromise({ listening, steps: steps ? JSON.parse(steps[1]) : undefined })
    })
  })
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}
const ms = (x) => `${Math.round(x)} ms`

const results = new Map(clis.map((cli) => [cli, []]))
for (const cli of clis) await startOnce(cli) // warm the file cache: the first start reads every module from disk
// Alternate the builds start by start, so that load from elsewhere on the machine hits them alike.
for (let i = 0; i < runs; i++) for (const cli of clis) results.get(cli).push(await startOnce(cli))

for (const [cli, starts] of results) {
  const times = starts.map((start) => start.listening)
  const sorted = [...times].sort((a, b) => a - b)
  console.log(`${cli}: spawn → listening, ${runs} starts: median ${ms(median(times))} (min ${ms(sorted[0])}, max ${ms(sorted.at(-1))})`)
  if (!values.breakdown) continue
  const steps = starts.map((start) => start.steps)
  const m = (f) => ms(median(steps.map(f)))
  console.log(
    `  steps (medians, ms since the process began): Node started ${m((s) => s.node)} · modules loaded +${m((s) => s.imports - s.node)} · ` +
      `plugins booted (store open, routes) +${m((s) => s.ready - s.imports)} · listening +${m((s) => s.listening - s.ready)} = ${m((s) => s.listening)}`,
  )
}
