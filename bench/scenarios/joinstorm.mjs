/**
 * joinstorm: `clients` fresh clients open the same big document (the automerge-paper trace,
 * 311 KB encoded) at the same instant. Measured: time from the storm's start until every client
 * has the content, per-client p50/p99, server CPU and RSS.
 *
 *   warm: a seeding client keeps the document loaded while the storm arrives;
 *   cold: the server was restarted on its data dir, so the storm itself opens the document.
 *
 * A client "has the content" once the update payloads it received add up to at least 90 % of the
 * encoded document (the servers send the whole state in one update; the reference server sends it
 * as a later update when the document was not loaded). The storm's clients do not apply what they
 * receive — 100 × applying 311 KB would measure the bench process, not the server; the first
 * `verifyClients` of them do apply it and must end with exactly the trace's text.
 */
import * as Y from 'yjs'
import { BenchClient, onConfirmed } from '../client.mjs'
import { textEquals, watchContent } from '../content.mjs'
import { removeDir, sleep, startServer, waitStoreQuiet } from '../server-process.mjs'
import { MiB, round, summarize } from '../stats.mjs'
import { traceDocument } from '../traces.mjs'

export const name = 'joinstorm'
export const description = 'N fresh clients join one big doc at once (warm and cold); time until all have it'
export const requires = ['sync', 'storage']
export const defaults = { clients: 100, trace: 'automerge-paper', maxTxns: 0, verifyClients: 2, timeoutMs: 60_000, quietMs: 500 }
export const quickParams = { clients: 20, maxTxns: 15_000, quietMs: 300 }

async function storm({ server, clients, verifyClients, timeoutMs, threshold, expectedText }) {
  const arrivals = new Array(clients).fill(0)
  const received = new Array(clients).fill(0)
  const storm = []
  const cpu0 = server.cpuSeconds()
  const t0 = performance.now()
  for (let i = 0; i < clients; i++) {
    const apply = i < verifyClients
    storm.push(new BenchClient({
      url: server.url,
      protocol: server.protocol,
      room: 'storm',
      id: `s${i}`,
      apply,
      syncTimeoutMs: timeoutMs,
      onUpdate: (update, arrivedAt) => {
        received[i] += update.byteLength
        if (!arrivals[i] && received[i] >= threshold) arrivals[i] = arrivedAt
      },
    }))
  }
  const verify = storm.slice(0, verifyClients).map((c) => watchContent(c, textEquals(expectedText)))
  try {
    await Promise.all(storm.map((c) => c.synced))
    const syncedAll = Math.max(...storm.map((c) => c.syncStep2ArrivedAt)) - t0
    const deadline = performance.now() + timeoutMs
    while (arrivals.some((a) => !a) && performance.now() < deadline) await sleep(5)
    const missing = arrivals.filter((a) => !a).length
    const verified = (await Promise.all(verify.map((v) => v.until(5000)))).every(Boolean)
    const cpu = server.cpuSeconds() - cpu0
    const mem = server.memory()
    const times = summarize(arrivals.filter(Boolean).map((a) => a - t0))
    return {
      allContentMs: missing ? null : round(times.max, 1),
      contentP50Ms: round(times.p50, 1),
      contentP99Ms: round(times.p99, 1),
      allSyncedMs: round(syncedAll, 1),
      missing,
      contentAtSynced: storm.filter((c, i) => arrivals[i] && arrivals[i] <= c.syncStep2ArrivedAt).length,
      verified,
      serverCpuSeconds: round(cpu, 3),
      serverRssMiB: round(mem.rss / MiB, 1),
      bytesPerClient: round(received.reduce((a, b) => a + b, 0) / clients, 0),
    }
  } finally {
    await Promise.all(storm.map((c) => c.close().catch(() => {})))
  }
}

export async function run({ params, serverKind = 'quire', log = console.log }) {
  const doc = traceDocument(params.trace, params.maxTxns)
  const threshold = Math.floor(doc.update.byteLength * 0.9)
  let server = await startServer({ kind: serverKind })
  const dataDir = server.dataDir
  let seeder = null
  try {
    let echoed = false // the server confirmed the seeding update (its echo; Hocuspocus: its SyncStatus)
    seeder = new BenchClient({ url: server.url, protocol: server.protocol, room: 'storm', id: 'seeder', ...onConfirmed(server.protocol, () => (echoed = true)) })
    await seeder.synced
    Y.applyUpdate(seeder.doc, doc.update) // sent to the server as one update
    const deadline = performance.now() + 30_000
    while (!echoed && performance.now() < deadline) await sleep(5)
    if (!echoed) throw new Error('joinstorm: the seeding update was never echoed')

    const common = { clients: params.clients, verifyClients: params.verifyClients, timeoutMs: params.timeoutMs, threshold, expectedText: doc.text }
    const warm = await storm({ server, ...common })
    await seeder.close()
    seeder = null
    await waitStoreQuiet(dataDir, { quietMs: params.quietMs, maxMs: 30_000 })
    await server.stop()
    server = await startServer({ kind: serverKind, dataDir })
    const cold = await storm({ server, ...common })

    log(`joinstorm: ${params.clients} clients, warm: all have the doc after ${warm.allContentMs} ms (server CPU ${warm.serverCpuSeconds} s); cold: ${cold.allContentMs} ms (server CPU ${cold.serverCpuSeconds} s)`)
    return { params, target: serverKind, docBytes: doc.update.byteLength, warm, cold, serverProblems: server.problems.slice(0, 10) }
  } finally {
    await seeder?.close().catch(() => {})
    await server.stop()
    await removeDir(dataDir)
  }
}

export function rows(r) {
  const row = (label, x) => [
    `${label}: all have the doc / p50 / p99 (ms)`,
    `${x.allContentMs ?? `INCOMPLETE (${x.missing} missing)`} / ${x.contentP50Ms} / ${x.contentP99Ms} (all synced ${x.allSyncedMs}; content at synced ${x.contentAtSynced}/${r.params.clients}; server CPU ${x.serverCpuSeconds} s, RSS ${x.serverRssMiB} MiB; ${x.bytesPerClient} B/client; verified ${x.verified})`,
  ]
  return [
    ['clients / doc bytes', `${r.params.clients} / ${r.docBytes}`],
    row('warm', r.warm),
    row('cold', r.cold),
  ]
}

export function metrics(r) {
  return [
    { key: 'warmAll', label: 'warm: all clients have the doc (ms)', value: r.warm.allContentMs, better: 'lower' },
    { key: 'warmCpu', label: 'warm: server CPU (s)', value: r.warm.serverCpuSeconds, better: 'lower' },
    { key: 'coldAll', label: 'cold: all clients have the doc (ms)', value: r.cold.allContentMs, better: 'lower' },
    { key: 'coldCpu', label: 'cold: server CPU (s)', value: r.cold.serverCpuSeconds, better: 'lower' },
    { key: 'coldAtSynced', label: 'cold: clients with content at synced', value: r.cold.contentAtSynced, better: 'higher' },
  ]
}
