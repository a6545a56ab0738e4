/**
 * Editing traces (see bench/traces/README.md for sources and licences).
 * Sequential format: {startContent, endContent, txns: [{patches: [[pos, delCount, insertStr], …]}]},
 * positions in Unicode code points, patches within a txn in descending position order.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as Y from 'yjs'
import { gunzipSync } from 'node:zlib'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const SEARCH = [join(HERE, 'traces'), join(HERE, '..', '..', 'shared', 'traces')]

export function loadTrace(name) {
  for (const dir of SEARCH) {
    const file = join(dir, `${name}.json.gz`)
    if (existsSync(file)) {
      const trace = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8'))
      trace.file = file
      trace.gzBytes = readFileSync(file).byteLength
      return trace
    }
  }
  throw new Error(`trace ${name} not found in ${SEARCH.join(', ')}`)
}

/** True if code-point positions equal UTF-16 indices throughout (no astral characters). */
export function isBmpOnly(trace) {
  const astral = /[\uD800-\uDFFF]/
  if (astral.test(trace.startContent ?? '') || astral.test(trace.endContent)) return false
  for (const txn of trace.txns) for (const p of txn.patches) if (p[2] && astral.test(p[2])) return false
  return true
}

/** Applies one trace txn to a Y.Text (call inside doc.transact for one update). BMP-only traces. */
export function applyTxn(text, txn) {
  for (const [pos, del, ins] of txn.patches) {
    if (del > 0) text.delete(pos, del)
    if (ins) text.insert(pos, ins)
  }
}

/**
 * The document a trace produces when replayed one Yjs transaction per txn (optionally only the
 * first `maxTxns` txns): its text and its encoded state (Y.encodeStateAsUpdate, v1). Replaying the
 * full automerge-paper trace takes seconds, so the encoded state is cached in
 * bench/results/cache/ (keyed by trace size, txn count and Yjs version) and memoized in-process.
 * @returns {{text: string, update: Uint8Array, txns: number, full: boolean, cached: boolean}}
 */
export function traceDocument(name, maxTxns = 0) {
  const memoKey = `${name}:${maxTxns}`
  const memo = documents.get(memoKey)
  if (memo) return memo
  const trace = loadTrace(name)
  if (!isBmpOnly(trace)) throw new Error(`${name}: astral characters need code-point → UTF-16 position mapping`)
  const txns = maxTxns > 0 ? trace.txns.slice(0, maxTxns) : trace.txns
  const full = txns.length === trace.txns.length
  const cacheFile = join(CACHE_DIR, `${name}-${trace.gzBytes}-${txns.length}-yjs${yjsVersion()}.bin`)
  let update = null
  let cached = false
  if (existsSync(cacheFile)) {
    update = new Uint8Array(readFileSync(cacheFile))
    cached = true
  }
  const doc = new Y.Doc()
  const text = doc.getText('text')
  if (update) Y.applyUpdate(doc, update)
  else {
    text.insert(0, trace.startContent ?? '')
    for (const txn of txns) doc.transact(() => applyTxn(text, txn))
    update = Y.encodeStateAsUpdate(doc)
    try {
      mkdirSync(CACHE_DIR, { recursive: true })
      writeFileSync(cacheFile, update)
    } catch {} // a read-only checkout still works, just slower
  }
  const result = { text: text.toString(), update, txns: txns.length, full, cached }
  doc.destroy()
  if (full && result.text !== trace.endContent) throw new Error(`${name}: replay does not end with endContent`)
  documents.set(memoKey, result)
  return result
}

const documents = new Map()
const CACHE_DIR = join(HERE, 'results', 'cache')
function yjsVersion() {
  try {
    return JSON.parse(readFileSync(join(HERE, '..', 'node_modules', 'yjs', 'package.json'), 'utf8')).version
  } catch {
    return 'unknown'
  }
}
