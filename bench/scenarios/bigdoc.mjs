/**
 * bigdoc: replay an editing trace (default automerge-paper, 259,778 edits) into one document
 * through one client, one Yjs transaction (= one Update message) per trace txn, with at most
 * `window` updates awaiting the server's echo. Before that, the same final document is stored
 * once more as a single update under another name ("seeded"), so the cold load of a 311 KB
 * document can be compared independently of how a server stores a long edit history. Then:
 *   - `freshClients` fresh clients, one after another, sync the whole document (full sync p50);
 *   - everyone disconnects, the server unloads the room; once the data dir stops changing its size
 *     is compared with Y.encodeStateAsUpdate of the same content (how long it kept changing after
 *     the last echo is reported too: a server that relays before it writes is still writing).
 *     On PostgreSQL (quire-pg) "the data dir" is the server's schema: its tables' size on disk,
 *     quiet when the documents' rows stop changing (bench/databases.mjs);
 *   - the server is stopped (SIGTERM) and restarted on the same data dir; a fresh client's time
 *     from connect to content present is the cold load (seeded document first, then the one
 *     built from the trace), and whether the content was already there at "synced" (the end of
 *     the handshake) is reported. A server still writing after `quietMaxMs` is stopped anyway:
 *     what it had not written is then missing after the restart, and reported as incomplete.
 */
import * as Y from 'yjs'
import { BenchClient, onConfirmed } from '../client.mjs'
import { textEquals, waitUntil, watchContent } from '../content.mjs'
import { keepDir, removeDir, startServer, storeStats, waitStoreQuiet } from '../server-process.mjs'
import { MiB, round, summarize } from '../stats.mjs'
import { applyTxn, loadTrace, traceDocument } from '../traces.mjs'

export const name = 'bigdoc'
export const description = 'replay an editing trace into one doc; full sync, storage size, cold load'
export const requires = ['sync', 'storage']
export const defaults = { trace: 'automerge-paper', maxTxns: 0, window: 2000, freshClients: 10, echoTimeoutMs: 30_000, quietMs: 1000, quietMaxMs: 45_000, contentTimeoutMs: 20_000, keepDataDir: 0 }
export const quickParams = { maxTxns: 3000, freshClients: 2, quietMs: 250 }

export async function run({ params, serverKind = 'quire', log = console.log }) {
  const trace = loadTrace(params.trace)
  const target = traceDocument(params.trace, params.maxTxns) // what the document must contain
  const expectedText = target.text
  const txns = trace.txns.slice(0, target.txns)
  const hasContent = textEquals(expectedText)

  let server = await startServer({ kind: serverKind })
  const dataDir = server.dataDir
  const opened = []
  const connect = (id, options = {}, room = 'bigdoc') => {
    const c = new BenchClient({ url: server.url, protocol: server.protocol, room, id, syncTimeoutMs: 60_000, ...options })
    opened.push(c)
    return c
  }
  /** A fresh client's time from connect until the whole text is there (bounded). */
  const coldLoad = async (id, room) => {
    const c = connect(id, {}, room)
    const content = watchContent(c, hasContent)
    await c.synced
    const atSynced = hasContent(c.text)
    const complete = await content.until(params.contentTimeoutMs)
    const r = {
      ms: complete ? round(content.presentAt - c.connectStartedAt, 1) : null,
      complete,
      atSynced,
      presentPercent: round((100 * c.text.length) / expectedText.length, 1),
      syncedMs: round(c.syncedAt - c.connectStartedAt, 1),
      openMs: round(c.openedAt - c.connectStartedAt, 1),
      step2ArrivedMs: round(c.syncStep2ArrivedAt - c.connectStartedAt, 1),
      step2Bytes: c.syncStep2Bytes,
    }
    await c.close()
    return r
  }
  try {
    // --- the seeded copy: the final document as one update ---------------------------------------
    let seededConfirmed = false
    const seeder = connect('seeder', onConfirmed(server.protocol, () => (seededConfirmed = true)), 'bigdoc-seeded')
    await seeder.synced
    Y.applyUpdate(seeder.doc, target.update) // goes out as one update
    if (!(await waitUntil(() => seededConfirmed, params.echoTimeoutMs))) throw new Error('bigdoc: the seeded update was never confirmed')
    await seeder.close()
    await waitStoreQuiet(dataDir, { quietMs: params.quietMs, maxMs: params.quietMaxMs })

    // --- upload -----------------------------------------------------------------------------
    // "Echoes": the writer's updates the server confirmed (their echoes; on Hocuspocus, which
    // merges the echoes of updates that arrive together, its SyncStatus answers).
    let echoes = 0
    let echoWaiter = null // { target, resolve }
    const writer = connect(
      'writer',
      onConfirmed(server.protocol, () => {
        echoes++
        if (echoWaiter && echoes >= echoWaiter.target) {
          const w = echoWaiter
          echoWaiter = null
          w.resolve()
        }
      }),
    )
    await writer.synced
    echoes = 0 // the SyncStep2 of the handshake is not an echo
    const waitEchoes = (n) => {
      if (echoes >= n) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          echoWaiter = null
          reject(new Error(`bigdoc: only ${echoes}/${n} echoes after ${params.echoTimeoutMs} ms (writer closed: ${writer.closed} ${writer.closeCode ?? ''})`))
        }, params.echoTimeoutMs)
        echoWaiter = { target: n, resolve: () => (clearTimeout(timer), resolve(undefined)) }
      })
    }

    const text = writer.text
    if (trace.startContent) writer.doc.transact(() => text.insert(0, trace.startContent))
    const cpu0 = server.cpuSeconds()
    const t0 = performance.now()
    let maxBuffered = 0
    for (let i = 0; i < txns.length; i++) {
      writer.doc.transact(() => applyTxn(text, txns[i]))
      const sent = writer.stats.updatesOut
      if (sent - echoes >= params.window) {
        maxBuffered = Math.max(maxBuffered, writer.bufferedAmount)
        await waitEchoes(sent - params.window / 2)
      }
      if (writer.closed) throw new Error(`bigdoc: writer closed at txn ${i}: ${writer.closeCode} ${writer.closeReason}`)
    }
    await waitEchoes(writer.stats.updatesOut)
    const lastEchoAt = performance.now()
    const uploadMs = lastEchoAt - t0
    const uploadCpu = server.cpuSeconds() - cpu0
    const memAfterUpload = server.memory()
    const writerOk = text.toString() === expectedText
    const encodedBytes = Y.encodeStateAsUpdate(writer.doc).byteLength
    const encodedV2Bytes = Y.encodeStateAsUpdateV2(writer.doc).byteLength
    const updatesSent = writer.stats.updatesOut

    // --- fresh clients: full sync of the loaded document -----------------------------------------
    const cpuFresh0 = server.cpuSeconds()
    const fresh = []
    let serverOk = true
    for (let i = 0; i < params.freshClients; i++) {
      const c = connect(`fresh${i}`)
      await c.synced
      serverOk &&= hasContent(c.text)
      fresh.push({ arrive: c.syncStep2ArrivedAt - c.connectStartedAt, synced: c.syncedAt - c.connectStartedAt, bytes: c.syncStep2Bytes })
      await c.close()
    }
    const cpuFresh = server.cpuSeconds() - cpuFresh0
    const freshArrive = summarize(fresh.map((f) => f.arrive))
    const freshSynced = summarize(fresh.map((f) => f.synced))
    await writer.close()

    // --- storage after unload -----------------------------------------------------------------
    const quiet = await waitStoreQuiet(dataDir, { quietMs: params.quietMs, maxMs: params.quietMaxMs })
    const writingAfterLastEchoMs = Math.max(0, quiet.newest - (performance.timeOrigin + lastEchoAt))
    // Upload plus whatever the server did afterwards to store it (a server that relays first
    // writes later), without the fresh clients' syncs.
    const cpuUntilStored = server.cpuSeconds() - cpu0 - cpuFresh
    await server.stop()
    const afterStop = await storeStats(dataDir)

    // --- cold load on a restarted server -------------------------------------------------------
    server = await startServer({ kind: serverKind, dataDir })
    const afterRestartOpen = await storeStats(dataDir)
    const coldCpu0 = server.cpuSeconds()
    const seeded = await coldLoad('cold-seeded', 'bigdoc-seeded')
    const cold = await coldLoad('cold', 'bigdoc')
    const coldCpu = server.cpuSeconds() - coldCpu0
    const coldMem = server.memory()

    // Same process again, after the room unloaded: load cost without process start-up and JIT
    // warm-up (skipped when the stored document is incomplete anyway).
    let reload = null
    if (cold.complete) {
      await waitStoreQuiet(dataDir, { quietMs: params.quietMs, maxMs: params.quietMaxMs })
      reload = await coldLoad('reload', 'bigdoc')
    }

    const result = {
      params,
      target: serverKind,
      trace: { name: params.trace, gzBytes: trace.gzBytes, txnsReplayed: txns.length, full: target.full, finalChars: expectedText.length },
      updatesSent,
      bytesSent: writer.stats.bytesOut,
      uploadSeconds: round(uploadMs / 1000, 3),
      updatesPerSecond: round(updatesSent / (uploadMs / 1000), 0),
      serverCpuSecondsUpload: round(uploadCpu, 3),
      serverCpuSecondsUntilStored: round(cpuUntilStored, 3),
      serverRssAfterUploadMiB: round(memAfterUpload.rss / MiB, 1),
      serverPeakRssUploadMiB: round(memAfterUpload.hwm / MiB, 1),
      maxClientBufferedBytes: maxBuffered,
      writerContentOk: writerOk,
      serverContentOk: serverOk,
      freshSyncStep2ArrivedMs: { p50: round(freshArrive.p50, 1), max: round(freshArrive.max, 1) },
      freshSyncedMs: { p50: round(freshSynced.p50, 1), max: round(freshSynced.max, 1) },
      freshSyncStep2Bytes: fresh[0]?.bytes ?? null,
      encodedBytes,
      encodedV2Bytes,
      store: quiet.store ?? 'dir',
      dataDirBytesAfterUnload: quiet.bytes,
      dataDirFilesAfterUnload: quiet.files ?? null,
      // PostgreSQL only: Quire's own count of what it stores (bases + log), and the log rows left.
      storedBytesAfterUnload: quiet.storedBytes ?? null,
      logRowsAfterUnload: quiet.logRows ?? null,
      dataDirQuiet: quiet.quiet,
      dataDirWritingAfterLastEchoMs: round(writingAfterLastEchoMs, 0),
      dataDirBytesAfterStop: afterStop.bytes,
      dataDirBytesAfterRestartOpen: afterRestartOpen.bytes,
      storageRatio: round(quiet.bytes / (encodedBytes + target.update.byteLength), 2), // both documents
      storedRatio: quiet.storedBytes === undefined ? null : round(quiet.storedBytes / (encodedBytes + target.update.byteLength), 2),
      coldSeeded: seeded,
      cold,
      coldServerCpuSeconds: round(coldCpu, 3),
      restartListeningMs: round(server.startMs, 0),
      coldServerRssMiB: round(coldMem.rss / MiB, 1),
      reload,
      serverProblems: server.problems.slice(0, 10),
    }
    log(`bigdoc: ${updatesSent} updates in ${result.uploadSeconds} s; full sync p50 ${result.freshSyncStep2ArrivedMs.p50} ms; data dir ${quiet.bytes} B vs encoded 2 × ~${encodedBytes} B (×${result.storageRatio}); cold load ${seeded.ms ?? 'INCOMPLETE'} ms (seeded) / ${cold.ms ?? `INCOMPLETE, ${cold.presentPercent} %`} ms (as stored), content at synced: ${seeded.atSynced} / ${cold.atSynced}`)
    return result
  } finally {
    for (const c of opened) await c.close().catch(() => {})
    await server.stop()
    if (params.keepDataDir) {
      keepDir(dataDir)
      log(`bigdoc: data dir kept at ${dataDir}`)
    } else await removeDir(dataDir)
  }
}

const coldRow = (label, c) => [
  label,
  `${c.ms ?? `INCOMPLETE: ${c.presentPercent} % of the text at the content timeout`} (content at synced: ${c.atSynced}; synced ${c.syncedMs}, socket open ${c.openMs}, SyncStep2 of ${c.step2Bytes} B arrived ${c.step2ArrivedMs})`,
]
const incomplete = (c) => (c.complete ? c.ms : `incomplete (${c.presentPercent} %)`)

export function rows(r) {
  return [
    ['trace / txns', `${r.trace.name} / ${r.trace.txnsReplayed}${r.trace.full ? '' : ' (partial)'}`],
    ['upload time (s)', `${r.uploadSeconds} (${r.updatesPerSecond} updates/s, server CPU ${r.serverCpuSecondsUpload} s until the last echo, ${r.serverCpuSecondsUntilStored} s until the data dir was quiet)`],
    ['content correct (writer / via server)', `${r.writerContentOk} / ${r.serverContentOk}`],
    ['fresh client full sync: SyncStep2 arrived / applied, p50 (ms)', `${r.freshSyncStep2ArrivedMs.p50} / ${r.freshSyncedMs.p50} (${r.params.freshClients} clients, ${r.freshSyncStep2Bytes} B)`],
    [r.store === 'postgres' ? 'schema bytes on disk after unload' : 'data dir bytes after unload', `${r.dataDirBytesAfterUnload} (${r.store === 'postgres' ? `${r.storedBytesAfterUnload} B stored in bases and ${r.logRowsAfterUnload} log rows` : `${r.dataDirFilesAfterUnload} files`}; last written ${r.dataDirWritingAfterLastEchoMs} ms after the last echo, compaction on unload included${r.dataDirQuiet ? '' : ', NOT quiet'}; after stop ${r.dataDirBytesAfterStop}, after reopen ${r.dataDirBytesAfterRestartOpen})`],
    ['encodeStateAsUpdate bytes (v1 / v2)', `${r.encodedBytes} / ${r.encodedV2Bytes}`],
    [r.store === 'postgres' ? 'schema on disk / encoded (both documents)' : 'data dir / encoded (both documents)', `${r.storageRatio}`],
    coldRow('cold load, seeded (one update): connect → content (ms)', r.coldSeeded),
    coldRow('cold load, as stored from the trace: connect → content (ms)', r.cold),
    ['restart: process spawned → listening (ms)', `${r.restartListeningMs}`],
    r.reload ? coldRow('reload in the same server after unload (ms)', r.reload) : ['reload in the same server after unload (ms)', 'skipped: stored document incomplete'],
    ['server peak RSS during upload (MiB)', `${r.serverPeakRssUploadMiB}`],
  ]
}

export function metrics(r) {
  return [
    { key: 'upload', label: 'upload time (s)', value: r.uploadSeconds, better: 'lower' },
    { key: 'uploadCpu', label: 'server CPU until the last echo (s)', value: r.serverCpuSecondsUpload, better: 'lower' },
    { key: 'storedCpu', label: 'server CPU until the data dir is quiet (s)', value: r.serverCpuSecondsUntilStored, better: 'lower' },
    { key: 'quiet', label: 'data dir quiet after unload', value: r.dataDirQuiet, better: 'higher' },
    { key: 'fresh', label: 'fresh client full sync p50 (ms, SyncStep2 arrived)', value: r.freshSyncStep2ArrivedMs.p50, better: 'lower' },
    { key: 'disk', label: 'data dir / encoded docs', value: r.storageRatio, better: 'lower' },
    // On PostgreSQL the tables keep deleted log rows until a vacuum: what Quire keeps is this.
    { key: 'stored', label: 'PostgreSQL: bases + log kept / encoded docs', value: r.storedRatio ?? '—', better: 'lower' },
    { key: 'coldSeeded', label: 'cold load after restart → content present (ms)', value: incomplete(r.coldSeeded), better: 'lower' },
    { key: 'atSynced', label: 'cold load: content present at synced', value: r.coldSeeded.atSynced, better: 'higher' },
    { key: 'cold', label: `cold load of the doc as stored from ${r.trace.txnsReplayed} edits (ms)`, value: incomplete(r.cold), better: 'lower' },
    { key: 'start', label: 'restart: process spawned → listening (ms)', value: r.restartListeningMs, better: 'lower' },
    { key: 'reload', label: 'reload after unload → content (ms)', value: r.reload ? incomplete(r.reload) : 'skipped', better: 'lower' },
    { key: 'rss', label: 'server peak RSS during upload (MiB)', value: r.serverPeakRssUploadMiB, better: 'lower' },
  ]
}
