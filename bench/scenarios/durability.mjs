/**
 * durability: one writer sends `updates` one-character updates (one frame each, as fast as the
 * socket takes them) and counts the server's echoes. `delayMs` after the echo of the last one has
 * arrived (0 = from inside the handler of that frame) the server gets SIGKILL. A server restarted
 * on the same data dir is then asked for the document: lost = updates − characters it serves.
 *
 * An echo is the server telling the writer "I have your update". Quire relays (and echoes) an
 * update only after LevelDB committed it, so it should lose nothing at any delay. The reference
 * server relays first and hands the update to y-leveldb afterwards, one write at a time: whatever
 * is still queued when it dies is gone. That difference is what this scenario measures.
 */
import { BenchClient, onConfirmed } from '../client.mjs'
import { removeDir, sleep, startServer } from '../server-process.mjs'
import { round } from '../stats.mjs'

export const name = 'durability'
export const description = 'N one-edit updates, SIGKILL X ms after the last echo; updates lost'
export const requires = ['sync', 'storage']
export const defaults = { updates: 2000, killDelaysMs: '0,500', contentTimeoutMs: 10_000, settleMs: 1000 }
export const quickParams = { updates: 300, settleMs: 500 }

/** The n-th character typed, so order and completeness are both checked. */
const char = (n) => String.fromCharCode(97 + (n % 26))

/** One kill: returns what the restarted server served. */
async function once({ updates, delayMs, serverKind, contentTimeoutMs, settleMs }) {
  const expected = Array.from({ length: updates }, (_, n) => char(n)).join('')
  let server = await startServer({ kind: serverKind })
  const dataDir = server.dataDir
  const opened = []
  try {
    let echoes = 0
    let lastEchoAt = 0
    let killed = null
    // An echo, or on Hocuspocus (whose echoes merge updates that arrive together) the SyncStatus
    // answer to the update: either way the server saying it has the update.
    const writer = new BenchClient({
      url: server.url,
      protocol: server.protocol,
      room: 'durability',
      id: 'writer',
      ...onConfirmed(server.protocol, (arrivedAt) => {
        echoes++
        if (echoes === updates) {
          lastEchoAt = arrivedAt
          if (delayMs <= 0) killed = server.kill('SIGKILL')
          else setTimeout(() => (killed = server.kill('SIGKILL')), delayMs)
        }
      }),
    })
    opened.push(writer)
    await writer.synced
    const t0 = performance.now()
    for (let n = 0; n < updates; n++) writer.insert(char(n))
    const deadline = performance.now() + 60_000
    while (!killed && performance.now() < deadline) await sleep(5)
    if (!killed) throw new Error(`durability: ${echoes}/${updates} echoes after 60 s`)
    const exit = await killed
    const killedAfterMs = performance.now() - lastEchoAt
    await writer.close()

    server = await startServer({ kind: serverKind, dataDir })
    const reader = new BenchClient({ url: server.url, protocol: server.protocol, room: 'durability', id: 'reader', syncTimeoutMs: 30_000 })
    opened.push(reader)
    await reader.synced
    // The reference server answers from an empty document first and sends what it loaded later:
    // wait until everything is there, or until nothing changed for settleMs.
    const start = performance.now()
    let lastLength = -1
    let lastChange = start
    while (reader.text.length < updates && performance.now() - start < contentTimeoutMs) {
      if (reader.text.length !== lastLength) {
        lastLength = reader.text.length
        lastChange = performance.now()
      } else if (performance.now() - lastChange >= settleMs) break
      await sleep(10)
    }
    const served = reader.text.toString()
    await reader.close()
    return {
      delayMs,
      lost: updates - served.length,
      servedIsPrefix: expected.startsWith(served),
      lastEchoAfterMs: round(lastEchoAt - t0, 1),
      killedAfterLastEchoMs: round(killedAfterMs, 1),
      killSignal: exit.signal,
    }
  } finally {
    for (const c of opened) await c.close().catch(() => {})
    await server.stop()
    await removeDir(dataDir)
  }
}

export async function run({ params, serverKind = 'quire', log = console.log }) {
  const delays = String(params.killDelaysMs).split(',').map(Number).filter((d) => Number.isFinite(d) && d >= 0)
  const kills = []
  for (const delayMs of delays) {
    const k = await once({ ...params, delayMs, serverKind })
    log(`durability: SIGKILL ${delayMs} ms after the last echo (${k.lastEchoAfterMs} ms after the first send): lost ${k.lost}/${params.updates}${k.servedIsPrefix ? '' : ' (served text is NOT a prefix of what was sent)'}`)
    kills.push(k)
  }
  return { params, target: serverKind, kills }
}

export function rows(r) {
  return r.kills.map((k) => [
    `SIGKILL ${k.delayMs} ms after last echo: lost / ${r.params.updates}`,
    `${k.lost}${k.servedIsPrefix ? '' : ' (NOT a prefix)'} (last echo ${k.lastEchoAfterMs} ms after the first send)`,
  ])
}

export function metrics(r) {
  return [
    ...r.kills.map((k) => ({ key: `lost${k.delayMs}`, label: `lost of ${r.params.updates}, SIGKILL ${k.delayMs} ms after last echo`, value: k.lost, better: 'lower' })),
    { key: 'echo', label: `last echo after first send (ms)`, value: r.kills[0]?.lastEchoAfterMs, better: 'lower' },
  ]
}
