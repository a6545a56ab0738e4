#!/usr/bin/env node
/**
 * Benchmark runner.
 *
 *   node bench/run.mjs                       all scenarios, full size (~2–3 min on 2 cores)
 *   node bench/run.mjs --quick               small sizes (< 1 min)
 *   node bench/run.mjs --scenario fanout     one scenario (repeatable, or comma-separated)
 *   node bench/run.mjs --set durationS=5     override a parameter in every scenario that has it
 *   node bench/run.mjs --server quire        server kind from bench/server-process.mjs SERVERS
 *
 * Needs a built server (`npm run build`). Prints a markdown table and appends one JSON line per
 * scenario to bench/results/<timestamp>-<server>.jsonl.
 */
import { execFileSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { PROJECT_ROOT, SERVERS } from './server-process.mjs'
import * as fanout from './scenarios/fanout.mjs'
import * as idle from './scenarios/idle.mjs'
import * as bigdoc from './scenarios/bigdoc.mjs'

const SCENARIOS = { fanout, idle, bigdoc }

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true },
    quick: { type: 'boolean', default: false },
    server: { type: 'string', default: 'quire' },
    set: { type: 'string', multiple: true },
    'timeout-s': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
})

if (values.help) {
  console.log(`usage: node bench/run.mjs [--quick] [--scenario NAME]… [--set key=value]… [--server KIND]
scenarios: ${Object.entries(SCENARIOS).map(([n, s]) => `\n  ${n.padEnd(8)} ${s.description}`).join('')}
servers: ${Object.keys(SERVERS).join(', ')}`)
  process.exit(0)
}

const names = (values.scenario ?? Object.keys(SCENARIOS)).flatMap((s) => s.split(',')).filter(Boolean)
for (const n of names) {
  if (!SCENARIOS[n]) {
    console.error(`unknown scenario ${n}; known: ${Object.keys(SCENARIOS).join(', ')}`)
    process.exit(2)
  }
}
if (!SERVERS[values.server]) {
  console.error(`unknown server ${values.server}; known: ${Object.keys(SERVERS).join(', ')}`)
  process.exit(2)
}
if (values.server === 'quire' && !existsSync(join(PROJECT_ROOT, 'dist', 'cli.js'))) {
  console.error('dist/cli.js not found: run `npm run build` first')
  process.exit(2)
}

const overrides = {}
for (const kv of values.set ?? []) {
  const eq = kv.indexOf('=')
  if (eq <= 0) {
    console.error(`--set expects key=value, got ${kv}`)
    process.exit(2)
  }
  const raw = kv.slice(eq + 1)
  overrides[kv.slice(0, eq)] = raw === '' || isNaN(Number(raw)) ? raw : Number(raw)
}

// Whole-run watchdog: the bench always stops by itself (child servers are killed on exit).
const timeoutS = Number(values['timeout-s'] ?? (values.quick ? 120 : 600))
setTimeout(() => {
  console.error(`bench: watchdog fired after ${timeoutS} s, aborting`)
  process.exit(3)
}, timeoutS * 1000).unref()
process.on('unhandledRejection', (error) => {
  console.error('bench: unhandled rejection', error)
  process.exit(1)
})

function gitInfo() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim() !== ''
    return { commit, srcDirty: dirty }
  } catch {
    return { commit: null, srcDirty: null }
  }
}

const startedAt = new Date()
const env = { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, ...gitInfo() }
const resultsDir = join(PROJECT_ROOT, 'bench', 'results')
mkdirSync(resultsDir, { recursive: true })
const resultsFile = join(resultsDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}-${values.server}.jsonl`)

console.log(`# Quire bench — server ${values.server}, ${values.quick ? 'quick' : 'full'}, node ${env.node}, ${env.cpus} CPUs, commit ${env.commit}${env.srcDirty ? ' (src modified)' : ''}\n`)

const summary = []
let failed = 0
const t0 = performance.now()
for (const n of names) {
  const scenario = SCENARIOS[n]
  const params = { ...scenario.defaults, ...(values.quick ? scenario.quickParams : {}) }
  for (const [k, v] of Object.entries(overrides)) if (k in params) params[k] = v
  console.log(`## ${n}: ${scenario.description}\nparams ${JSON.stringify(params)}`)
  const s0 = performance.now()
  let line
  try {
    const result = await scenario.run({ params, serverKind: values.server })
    const seconds = (performance.now() - s0) / 1000
    console.log(`\n| ${n} | value |\n|---|---|`)
    for (const [k, v] of scenario.rows(result)) {
      console.log(`| ${k} | ${v} |`)
      summary.push([n, k, v])
    }
    if (result.serverProblems?.length) console.log(`\nserver warnings/errors:\n  ${result.serverProblems.join('\n  ')}`)
    console.log(`\n(${seconds.toFixed(1)} s)\n`)
    line = { ts: startedAt.toISOString(), scenario: n, server: values.server, quick: values.quick, env, seconds, result }
  } catch (error) {
    failed++
    console.error(`scenario ${n} failed:`, error)
    summary.push([n, 'ERROR', String(error?.message ?? error).replace(/\|/g, '/')])
    line = { ts: startedAt.toISOString(), scenario: n, server: values.server, quick: values.quick, env, params, error: String(error?.stack ?? error) }
  }
  appendFileSync(resultsFile, JSON.stringify(line) + '\n')
}

console.log(`## Summary (${((performance.now() - t0) / 1000).toFixed(1)} s)\n\n| scenario | metric | value |\n|---|---|---|`)
for (const [s, k, v] of summary) console.log(`| ${s} | ${k} | ${v} |`)
console.log(`\nresults: ${resultsFile}`)
process.exit(failed ? 1 : 0)
