/**
 * Turns the runs of one bench invocation into a comparison: the median of every figure per
 * server, and Quire's ratio to each peer, as a markdown table. Also the machine facts printed with
 * it and the writer of docs/benchmarks.md (only the part between its bench markers is replaced).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { FLOOR_NOTE, HOCUSPOCUS_NOTE, PROJECT_ROOT, SERVERS, packageVersions } from './targets.mjs'

/** Facts about this machine and checkout that the numbers depend on. */
export function machineFacts() {
  let commit = null
  let srcDirty = null
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim()
    srcDirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim() !== ''
  } catch {}
  return {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? null,
    kernel: release(),
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAvgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    commit,
    srcDirty,
    versions: packageVersions(),
  }
}

export function median(values) {
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  if (xs.length === 0) return null
  const mid = xs.length >> 1
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2
}

/** Median of numbers; for anything else the distinct values, joined. */
function combine(values) {
  if (values.length === 0) return null
  if (values.every((v) => typeof v === 'number' && Number.isFinite(v))) return median(values)
  const distinct = [...new Set(values.map((v) => (v === null || v === undefined ? 'none' : String(v))))]
  return distinct.join(' / ')
}

export function format(x, digits) {
  if (x === null || x === undefined) return '—'
  if (typeof x !== 'number') return String(x)
  if (!Number.isFinite(x)) return String(x)
  if (digits !== undefined) return x.toFixed(digits)
  if (Number.isInteger(x)) return String(x)
  const a = Math.abs(x)
  return String(Number(x.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3)))
}

/**
 * @typedef {{scenario: string, target: string, metrics?: Array<{key: string, label: string, value: any, better?: string, digits?: number}>, na?: string, error?: string}} RunRecord
 */

/**
 * One row per scenario × metric: per target the combined value over its runs.
 * @param {RunRecord[]} runs
 * @param {string[]} scenarioOrder
 * @param {string[]} targets
 */
export function compare(runs, scenarioOrder, targets) {
  const rows = []
  for (const scenario of scenarioOrder) {
    const mine = runs.filter((r) => r.scenario === scenario)
    /** @type {Map<string, {label: string, better?: string, digits?: number, values: Record<string, any[]>}>} */
    const byKey = new Map()
    for (const run of mine) {
      for (const m of run.metrics ?? []) {
        let row = byKey.get(m.key)
        if (!row) byKey.set(m.key, (row = { label: m.label, better: m.better, digits: m.digits, values: {} }))
        ;(row.values[run.target] ??= []).push(m.value)
      }
    }
    const cell = (target) => {
      const runsOf = mine.filter((r) => r.target === target)
      if (runsOf.length === 0) return { na: 'not run' }
      if (runsOf.every((r) => r.na)) return { na: 'n/a' }
      if (runsOf.every((r) => r.error)) return { na: 'error' }
      return null
    }
    const runsPerTarget = Math.max(0, ...targets.map((t) => mine.filter((r) => r.target === t && r.metrics).length))
    for (const [key, row] of byKey) {
      const values = {}
      for (const t of targets) values[t] = cell(t)?.na ?? combine(row.values[t] ?? [])
      rows.push({ scenario, key, label: row.label, better: row.better, digits: row.digits, values, runs: runsPerTarget })
    }
    if (byKey.size === 0) {
      rows.push({ scenario, key: 'error', label: 'no result', values: Object.fromEntries(targets.map((t) => [t, cell(t)?.na ?? 'error'])), runs: 0 })
    }
  }
  return rows
}

const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b !== 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '—')

/**
 * The ratio column after target t, or null: a variant of Quire against its baseline (quire-pg ÷
 * quire, quire-cluster ÷ quire-pg), Quire against a peer (Quire ÷ y-websocket).
 */
function ratioColumn(t, targets) {
  const base = SERVERS[t].baseline
  if (base) return targets.includes(base) ? { head: `${t} ÷ ${base}`, of: t, to: base } : null
  if (t === 'quire' || !targets.includes('quire')) return null
  return { head: `Quire ÷ ${SERVERS[t].short ?? t}`, of: 'quire', to: t }
}

/** Markdown table: Quire first, each variant of it with its ratio to its baseline, then every peer with Quire's ratio to it. */
export function markdownTable(rows, targets) {
  const columns = targets.map((t) => ({ t, ratio: ratioColumn(t, targets) }))
  const head = ['scenario', 'metric', ...columns.flatMap(({ t, ratio: r }) => (r ? [SERVERS[t].label, r.head] : [SERVERS[t].label]))]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`]
  let last = ''
  for (const row of rows) {
    const arrow = row.better === 'lower' ? ' ↓' : row.better === 'higher' ? ' ↑' : ''
    const cells = [row.scenario === last ? '' : `**${row.scenario}** (${row.runs} run${row.runs === 1 ? '' : 's'})`, `${row.label}${arrow}`]
    last = row.scenario
    for (const { t, ratio: r } of columns) {
      cells.push(format(row.values[t], row.digits))
      if (r) cells.push(ratio(row.values[r.of], row.values[r.to]))
    }
    lines.push(`| ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

/** The machine facts as a short markdown list. */
export function factsMarkdown(facts, { repeat, quick, seconds, loadAvgAtEnd, stores = {}, targets = [] }) {
  const v = Object.entries(facts.versions).map(([k, x]) => `${k} ${x ?? '?'}`).join(', ')
  const s = Object.entries(stores).map(([k, x]) => `${k} ${x}`).join(', ')
  return [
    `- machine: ${facts.cpus} × ${facts.cpuModel}, ${facts.memGiB} GiB RAM, Linux ${facts.kernel}; load average ${facts.loadAvgAtStart.join(' ')} at start, ${loadAvgAtEnd.join(' ')} at end`,
    `- Node ${facts.node}; commit ${facts.commit}${facts.srcDirty ? ' (src/ modified)' : ''}; ${quick ? 'quick' : 'full'} sizes, ${repeat} run(s) per server alternating, medians shown; ${Math.round(seconds)} s in all`,
    `- versions: ${v}`,
    ...(s ? [`- ${s} on the same machine (quire-pg, quire-cluster: a database and Redis prefix of the bench's own, dropped at the end)`] : []),
    `- ${FLOOR_NOTE}`,
    ...(targets.includes('hocuspocus') ? [`- ${HOCUSPOCUS_NOTE}`] : []),
    `- ↓ lower is better, ↑ higher is better; a ratio X ÷ Y below 1× means X has the smaller number`,
  ].join('\n')
}

export const DOCS_BEGIN = '<!-- bench:begin (written by `npm run bench -- --write-docs`) -->'
export const DOCS_END = '<!-- bench:end -->'

/** Replaces the generated part of docs/benchmarks.md (creating the file if needed). */
export function writeDocs(file, generated) {
  const block = `${DOCS_BEGIN}\n${generated}\n${DOCS_END}`
  if (!existsSync(file)) {
    writeFileSync(file, `# Benchmarks\n\n${block}\n`)
    return
  }
  const text = readFileSync(file, 'utf8')
  const a = text.indexOf(DOCS_BEGIN)
  const b = text.indexOf(DOCS_END)
  writeFileSync(file, a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + DOCS_END.length) : `${text.trimEnd()}\n\n${block}\n`)
}
