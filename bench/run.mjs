#!/usr/bin/env node
/**
 * Benchmark runner: every scenario against Quire, the reference y-websocket server, Hocuspocus and
 * the floor relay in one run, alternating servers (Q R H F Q R H F …) so drift hits all of them. Quire on
 * PostgreSQL (quire-pg) and as two instances (quire-cluster) join by default only in the scenarios
 * their descriptors name (bench/targets.mjs `byDefault`, `only`), and everywhere with --target.
 *
 *   node bench/run.mjs                       all scenarios, full size, 2 runs per server (~13 min on 2 cores)
 *   node bench/run.mjs --quick               small sizes, 1 run per server (~1.5 min; CI)
 *   node bench/run.mjs --scenario fanout     one scenario (repeatable, or comma-separated)
 *   node bench/run.mjs --target quire        only these servers (quire, quire-pg, quire-cluster, y-websocket, hocuspocus, quire-hp, quire-b, floor; comma-separated)
 *   node bench/run.mjs --repeat 3            runs per server and scenario
 *   node bench/run.mjs --set durationS=5     override a parameter in every scenario that has it
 *   node bench/run.mjs --write-docs          also rewrite the generated part of docs/benchmarks.md
 *
 * Needs a built server (`npm run build`; `npm run bench` does it). Appends one JSON line per run to
 * bench/results/<timestamp>.jsonl and writes the comparison table to bench/results/<timestamp>.md.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { FLOOR_NOTE, HOCUSPOCUS_DIR, HOCUSPOCUS_NOTE, PROJECT_ROOT, SERVERS, notApplicable, runsByDefault } from './targets.mjs'
import { cleanupDatabases, storeVersions } from './databases.mjs'
import { compare, factsMarkdown, machineFacts, markdownTable, writeDocs } from './report.mjs'
import * as fanout from './scenarios/fanout.mjs'
import * as rooms from './scenarios/rooms.mjs'
import * as idle from './scenarios/idle.mjs'
import * as bigdoc from './scenarios/bigdoc.mjs'
import * as durability from './scenarios/durability.mjs'
import * as catchup from './scenarios/catchup.mjs'
import * as joinstorm from './scenarios/joinstorm.mjs'
import * as churn from './scenarios/churn.mjs'
import * as cluster from './scenarios/cluster.mjs'
import * as awareness from './scenarios/awareness.mjs'

const SCENARIOS = { fanout, rooms, idle, awareness, bigdoc, durability, catchup, joinstorm, churn, cluster }

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true },
    target: { type: 'string', multiple: true },
    server: { type: 'string', multiple: true }, // older name of --target
    quick: { type: 'boolean', default: false },
    repeat: { type: 'string' },
    set: { type: 'string', multiple: true },
    'timeout-s': { type: 'string' },
    'write-docs': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
})

const usage = () => `usage: node bench/run.mjs [--quick] [--scenario NAME]… [--target KIND]… [--repeat N] [--set key=value]… [--write-docs]
scenarios: ${Object.entries(SCENARIOS).map(([n, s]) => `\n  ${n.padEnd(14)} ${s.description}`).join('')}
targets: ${Object.entries(SERVERS).map(([n, s]) => `\n  ${n.padEnd(14)} ${s.label}`).join('')}`
const die = (message) => {
  console.error(`${message}\n${usage()}`)
  process.exit(2)
}
if (values.help) {
  console.log(usage())
  process.exit(0)
}

const list = (xs) => (xs ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean)
const names = list(values.scenario).length ? list(values.scenario) : Object.keys(SCENARIOS)
for (const n of names) if (!SCENARIOS[n]) die(`unknown scenario ${n}`)
const targetList = list(values.target).concat(list(values.server))
for (const t of targetList) if (!SERVERS[t]) die(`unknown target ${t}`)
if (targetList.includes('quire-b') && !process.env.BENCH_QUIRE_B) die('quire-b needs BENCH_QUIRE_B=<dist dir of the other build> (e.g. cp -r dist dist-b)')
// Always in the descriptors' order, so Quire's columns come first and a variant follows its baseline.
const targets = Object.keys(SERVERS).filter((t) => (targetList.length ? targetList.includes(t) : names.some((n) => runsByDefault(n, t))))
const runsIn = (scenarioName, t) => targetList.length > 0 || runsByDefault(scenarioName, t)
const repeat = Number(values.repeat ?? (values.quick ? 1 : 2))
if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) die(`--repeat expects 1..20, got ${values.repeat}`)
if (targets.some((t) => t.startsWith('quire')) && !existsSync(join(PROJECT_ROOT, 'dist', 'cli.js'))) die('dist/cli.js not found: run `npm run build` first')
if (targets.includes('hocuspocus') && !existsSync(HOCUSPOCUS_DIR)) die('Hocuspocus is not installed: run `npm run peers` (npm ci in bench/peers)')

const overrides = {}
for (const kv of values.set ?? []) {
  const eq = kv.indexOf('=')
  if (eq <= 0) die(`--set expects key=value, got ${kv}`)
  const raw = kv.slice(eq + 1)
  overrides[kv.slice(0, eq)] = raw === '' || isNaN(Number(raw)) ? raw : Number(raw)
}

// Whole-run watchdog: the bench always stops by itself (child servers are killed on exit).
const timeoutS = Number(values['timeout-s'] ?? (values.quick ? 180 : 1800))
setTimeout(() => {
  console.error(`bench: watchdog fired after ${timeoutS} s, aborting`)
  process.exit(3)
}, timeoutS * 1000).unref()
process.on('unhandledRejection', (error) => {
  console.error('bench: unhandled rejection', error)
  process.exit(1)
})

const startedAt = new Date()
const facts = machineFacts()
const resultsDir = join(PROJECT_ROOT, 'bench', 'results')
mkdirSync(resultsDir, { recursive: true })
const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
const resultsFile = join(resultsDir, `${stamp}.jsonl`)
const tableFile = join(resultsDir, `${stamp}.md`)
const env = { node: facts.node, cpus: facts.cpus, cpuModel: facts.cpuModel, commit: facts.commit, srcDirty: facts.srcDirty }

console.log(`# Quire bench — ${values.quick ? 'quick' : 'full'}, targets ${targets.join(', ')}, ${repeat} run(s) each, node ${facts.node}, ${facts.cpus} CPUs (load ${facts.loadAvgAtStart.join(' ')}), commit ${facts.commit}${facts.srcDirty ? ' (src modified)' : ''}`)
if (targets.includes('hocuspocus')) console.log(`(${HOCUSPOCUS_NOTE})`)
if (targets.includes('floor')) console.log(`(${FLOOR_NOTE})`)
console.log('')

/** @type {import('./report.mjs').RunRecord[]} */
const records = []
let failed = 0
const t0 = performance.now()
for (const n of names) {
  const scenario = SCENARIOS[n]
  const params = { ...scenario.defaults, ...(values.quick ? scenario.quickParams : {}) }
  for (const [k, v] of Object.entries(overrides)) if (k in params) params[k] = v
  console.log(`## ${n}: ${scenario.description}\nparams ${JSON.stringify(params)}`)
  const scenarioTargets = targets.filter((t) => runsIn(n, t))
  for (const t of scenarioTargets) {
    const na = notApplicable(scenario, t)
    if (!na) continue
    console.log(`${SERVERS[t].label}: ${na}`)
    records.push({ scenario: n, target: t, na })
    appendFileSync(resultsFile, JSON.stringify({ ts: startedAt.toISOString(), scenario: n, target: t, quick: values.quick, env, na }) + '\n')
  }
  const runs = repeat
  for (let rep = 1; rep <= runs; rep++) {
    for (const t of scenarioTargets) {
      if (notApplicable(scenario, t)) continue
      const s0 = performance.now()
      let line
      try {
        const result = await scenario.run({ params: { ...params }, serverKind: t })
        const seconds = (performance.now() - s0) / 1000
        const metrics = scenario.metrics(result)
        console.log(`\n| ${n} — ${SERVERS[t].label}, run ${rep}/${runs} | value |\n|---|---|`)
        for (const [k, v] of scenario.rows(result)) console.log(`| ${k} | ${v} |`)
        if (result.serverProblems?.length) console.log(`\nserver warnings/errors:\n  ${result.serverProblems.join('\n  ')}`)
        console.log(`(${seconds.toFixed(1)} s)\n`)
        records.push({ scenario: n, target: t, metrics })
        line = { ts: startedAt.toISOString(), scenario: n, target: t, run: rep, quick: values.quick, env, seconds, metrics, result }
      } catch (error) {
        failed++
        console.error(`scenario ${n} on ${t} (run ${rep}) failed:`, error)
        records.push({ scenario: n, target: t, error: String(error?.message ?? error) })
        line = { ts: startedAt.toISOString(), scenario: n, target: t, run: rep, quick: values.quick, env, params, error: String(error?.stack ?? error) }
      }
      appendFileSync(resultsFile, JSON.stringify(line) + '\n')
    }
  }
}

try {
  await cleanupDatabases() // every server has stopped by now
} catch (error) {
  console.error('bench: dropping the bench database failed:', error)
}
const seconds = (performance.now() - t0) / 1000
const table = markdownTable(compare(records, names, targets), targets)
const facts2 = factsMarkdown(facts, { repeat, quick: values.quick, seconds, loadAvgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100), stores: storeVersions, targets })
const generated = `${table}\n\n${facts2}\n`
writeFileSync(tableFile, `# Quire bench ${startedAt.toISOString()}\n\n${generated}`)
console.log(`## Summary: medians over ${repeat} run(s) (${seconds.toFixed(1)} s)\n\n${generated}`)
if (values['write-docs']) {
  writeDocs(join(PROJECT_ROOT, 'docs', 'benchmarks.md'), `_Measured ${startedAt.toISOString().slice(0, 10)}._\n\n${generated}`)
  console.log('docs/benchmarks.md updated')
}
console.log(`results: ${resultsFile}\ntable:   ${tableFile}${failed ? `\n${failed} run(s) FAILED` : ''}`)
process.exit(failed ? 1 : 0)
