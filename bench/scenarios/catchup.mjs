/**
 * catchup: client B goes offline while client A makes `edits` edits (one transaction each, at
 * pseudo-random positions in a `baseChars`-character document); B then reconnects with its old
 * state. Measured: the bytes B receives until it has A's content (plus `trailMs` for stragglers),
 * against the minimal diff Y.encodeStateAsUpdate(A, stateVector(B)).
 *
 *   warm: A is still connected when B comes back (the server has the document loaded);
 *   cold: A left too and the room was unloaded; B is the first to open the document again.
 */
import * as Y from 'yjs'
import { BenchClient, onConfirmed } from '../client.mjs'
import { textEquals, watchContent } from '../content.mjs'
import { removeDir, sleep, startServer, waitStoreQuiet } from '../server-process.mjs'
import { round } from '../stats.mjs'

export const name = 'catchup'
export const description = 'client offline while another makes N edits; reconnect bytes vs minimal diff'
export const requires = ['sync', 'storage']
export const defaults = { baseChars: 20_000, edits: 100, trailMs: 300, contentTimeoutMs: 10_000, quietMs: 500, quietMaxMs: 15_000 }
export const quickParams = { quietMs: 200, trailMs: 150 }

/** Deterministic pseudo-random positions (LCG), so every target sees the same edits. */
function* positions(seed) {
  let x = seed
  for (;;) {
    x = (x * 1103515245 + 12345) % 2147483648
    yield x
  }
}

export async function run({ params, serverKind = 'quire', log = console.log }) {
  const { baseChars, edits, trailMs, contentTimeoutMs } = params
  const server = await startServer({ kind: serverKind })
  const opened = []
  const connect = (id, options = {}) => {
    const c = new BenchClient({ url: server.url, protocol: server.protocol, room: 'catchup', id, ...options })
    opened.push(c)
    return c
  }
  const rand = positions(42)
  let confirmedA = 0 // A's updates the server confirmed (echoes; Hocuspocus: SyncStatus answers)
  /** A makes `edits` edits and waits until the server confirmed them all (= it has them). */
  const makeEdits = async (a) => {
    const before = confirmedA
    for (let i = 0; i < edits; i++) a.insert(String.fromCharCode(65 + (i % 26)), rand.next().value % (a.text.length + 1))
    const deadline = performance.now() + 30_000
    while (confirmedA - before < edits && performance.now() < deadline) await sleep(5)
    if (confirmedA - before < edits) throw new Error(`catchup: ${confirmedA - before}/${edits} confirmed`)
  }
  /** B reconnects with `bDoc`; returns what it took to get A's content. */
  const reconnect = async (id, bDoc, expected) => {
    const minimalDiff = Y.encodeStateAsUpdate(expected.doc, Y.encodeStateVector(bDoc)).byteLength
    const b = connect(id, { doc: bDoc })
    const content = watchContent(b, textEquals(expected.text))
    await b.synced
    const atSynced = textEquals(expected.text)(b.text)
    const complete = await content.until(contentTimeoutMs)
    const ms = content.presentAt - b.connectStartedAt
    await sleep(trailMs)
    const r = {
      minimalDiffBytes: minimalDiff,
      bytesIn: b.stats.bytesIn,
      framesIn: b.stats.framesIn,
      bytesOut: b.stats.bytesOut,
      syncStep2Bytes: b.syncStep2Bytes,
      ratio: round(b.stats.bytesIn / minimalDiff, 2),
      contentAtSynced: atSynced,
      contentComplete: complete,
      contentMs: complete ? round(ms, 1) : null,
    }
    await b.close()
    return r
  }
  try {
    const a = connect('A', onConfirmed(server.protocol, () => confirmedA++))
    await a.synced
    const base = Array.from({ length: baseChars }, (_, i) => String.fromCharCode(97 + (i % 26))).join('')
    a.insert(base, 0)
    const bDoc = new Y.Doc()
    const b = connect('B', { doc: bDoc })
    await b.synced
    if (!(await watchContent(b, textEquals(base)).until(10_000))) throw new Error('catchup: B never got the base text')
    await b.close()

    // warm: A stays connected
    await makeEdits(a)
    const warm = await reconnect('B-warm', bDoc, { doc: a.doc, text: a.text.toString() })

    // cold: B offline again, A edits and leaves, the room unloads
    await makeEdits(a)
    const aDoc = new Y.Doc()
    Y.applyUpdate(aDoc, Y.encodeStateAsUpdate(a.doc))
    const aText = a.text.toString()
    await a.close()
    await waitStoreQuiet(server.dataDir, { quietMs: params.quietMs, maxMs: params.quietMaxMs })
    const cold = await reconnect('B-cold', bDoc, { doc: aDoc, text: aText })
    aDoc.destroy()
    bDoc.destroy()

    log(`catchup: warm ${warm.bytesIn} B received for a ${warm.minimalDiffBytes} B diff (×${warm.ratio}); cold ${cold.bytesIn} B for ${cold.minimalDiffBytes} B (×${cold.ratio})`)
    return { params, target: serverKind, warm, cold, serverProblems: server.problems.slice(0, 10) }
  } finally {
    for (const c of opened) await c.close().catch(() => {})
    await server.stop()
    await removeDir(server.dataDir)
  }
}

export function rows(r) {
  const row = (label, x) => [
    `${label}: bytes received / minimal diff`,
    `${x.bytesIn} / ${x.minimalDiffBytes} (×${x.ratio}; ${x.framesIn} frames, SyncStep2 ${x.syncStep2Bytes} B; content at synced ${x.contentAtSynced}, complete after ${x.contentMs ?? 'NEVER'} ms)`,
  ]
  return [
    ['base chars / edits while offline', `${r.params.baseChars} / ${r.params.edits}`],
    row('warm (other client still connected)', r.warm),
    row('cold (room unloaded)', r.cold),
  ]
}

export function metrics(r) {
  return [
    { key: 'warm', label: 'warm reconnect: bytes received / minimal diff', value: r.warm.ratio, better: 'lower' },
    { key: 'cold', label: 'cold reconnect: bytes received / minimal diff', value: r.cold.ratio, better: 'lower' },
    { key: 'coldAtSynced', label: 'cold reconnect: content present at synced', value: r.cold.contentAtSynced, better: 'higher' },
  ]
}
