/**
 * Editing traces (see bench/traces/README.md for sources and licences).
 * Sequential format: {startContent, endContent, txns: [{patches: [[pos, delCount, insertStr], …]}]},
 * positions in Unicode code points, patches within a txn in descending position order.
 */
import { existsSync, readFileSync } from 'node:fs'
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
