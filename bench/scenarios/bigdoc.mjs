/**
 * bigdoc: replay an editing trace (default automerge-paper, 259,778 edits) into one document
 * through one client, one Yjs transaction (= one Update message) per trace txn, with at most
 * `window` updates awaiting the server's echo. Then:
 *   - a fresh client syncs from the server and must see exactly the trace's endContent;
 *   - both disconnect, the server unloads the room; once the data dir stops changing its size is
 *     compared with Y.encodeStateAsUpdate of the same content;
 *   - the server is stopped (SIGTERM) and restarted on the same data dir, and a fresh client's
 *     time from connect to synced is the cold load time; content must be complete at "synced".
 */
import * as Y from 'yjs'
import { BenchClient } from '../client.mjs'
import { dirStats, keepDir, removeDir, sleep, startServer, waitDirQuiet } from '../server-process.mjs'
import { MiB, round } from '../stats.mjs'
import { applyTxn, isBmpOnly, loadTrace } from '../traces.mjs'

export const name = 'bigdoc'
export const description = 'replay an editing trace into one doc; storage size, cold load'
export const defaults = { trace: 'automerge-paper', maxTxns: 0, window: 2000, echoTimeoutMs: 30_000, quietMs: 1000, quietMaxMs: 15_000, keepDataDir: 0 }
export const quickParams = { maxTxns: 40_000 }

export async function run({ params, serverKind = 'quire', log = console.log }) {
  const trace = loadTrace(params.trace)
  if (!isBmpOnly(trace)) throw new Error(`${params.trace}: astral characters need code-point → UTF-16 position mapping`)
  const txns = params.maxTxns > 0 ? trace.txns.slice(0, params.maxTxns) : trace.txns
  const full = txns.length === trace.txns.length

  // What the document must contain: the trace's endContent, or for a partial replay, a local replay.
  let expectedText = trace.endContent
  if (!full) {
    const ref = new Y.Doc()
    const t = ref.getText('text')
    t.insert(0, trace.startContent ?? '')
    for (const txn of txns) ref.transact(() => applyTxn(t, txn))
    expectedText = t.toString()
    ref.destroy()
  }

  let server = await startServer({ kind: serverKind })
  const dataDir = server.dataDir
  const opened = []
  try {
    // --- upload -----------------------------------------------------------------------------
    let echoes = 0
    let echoWaiter = null // { target, resolve }
    const writer = new BenchClient({
      url: server.url,
      room: 'bigdoc',
      id: 'writer',
      onUpdate: () => {
        echoes++
        if (echoWaiter && echoes >= echoWaiter.target) {
          const w = echoWaiter
          echoWaiter = null
          w.resolve()
        }
      },
    })
    opened.push(writer)
    await writer.synced
    echoes = 0 // the SyncStep2 of the handshake is not an echo
    const waitEchoes = (target) => {
      if (echoes >= target) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          echoWaiter = null
          reject(new Error(`bigdoc: only ${echoes}/${target} echoes after ${params.echoTimeoutMs} ms (writer closed: ${writer.closed} ${writer.closeCode ?? ''})`))
        }, params.echoTimeoutMs)
        echoWaiter = { target, resolve: () => (clearTimeout(timer), resolve()) }
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
    const uploadMs = performance.now() - t0
    const uploadCpu = server.cpuSeconds() - cpu0
    const memAfterUpload = server.memory()
    const writerOk = text.toString() === expectedText
    const encodedBytes = Y.encodeStateAsUpdate(writer.doc).byteLength
    const encodedV2Bytes = Y.encodeStateAsUpdateV2(writer.doc).byteLength
    const updatesSent = writer.stats.updatesOut
    const bytesSent = writer.stats.bytesOut

    // --- verify through the server ---------------------------------------------------------
    const verifier = new BenchClient({ url: server.url, room: 'bigdoc', id: 'verifier' })
    opened.push(verifier)
    await verifier.synced
    const serverOk = verifier.text.toString() === expectedText
    const warmSyncMs = verifier.syncedAt - verifier.connectStartedAt
    await writer.close()
    await verifier.close()

    // --- storage after unload -----------------------------------------------------------------
    const quiet = await waitDirQuiet(dataDir, { quietMs: params.quietMs, maxMs: params.quietMaxMs })
    await server.stop()
    const afterStop = await dirStats(dataDir)

    // --- cold load on a restarted server -------------------------------------------------------
    server = await startServer({ kind: serverKind, dataDir })
    const afterRestartOpen = await dirStats(dataDir)
    const cold = new BenchClient({ url: server.url, room: 'bigdoc', id: 'cold', syncTimeoutMs: 60_000 })
    opened.push(cold)
    const coldCpu0 = server.cpuSeconds()
    await cold.synced
    const contentAtSynced = cold.text.toString() === expectedText
    const coldMs = cold.syncedAt - cold.connectStartedAt
    const coldOpenMs = cold.openedAt - cold.connectStartedAt
    const coldArriveMs = cold.syncStep2ArrivedAt - cold.connectStartedAt
    const coldStep2Bytes = cold.syncStep2Bytes
    const coldCpu = server.cpuSeconds() - coldCpu0
    const coldMem = server.memory()
    await sleep(50)
    await cold.close()

    // Same process again, after the room unloaded: load cost without process start-up and JIT warm-up.
    await waitDirQuiet(dataDir, { quietMs: params.quietMs, maxMs: params.quietMaxMs })
    const again = new BenchClient({ url: server.url, room: 'bigdoc', id: 'reload', syncTimeoutMs: 60_000 })
    opened.push(again)
    await again.synced
    const reloadOk = again.text.toString() === expectedText
    const reloadMs = again.syncedAt - again.connectStartedAt
    const reloadArriveMs = again.syncStep2ArrivedAt - again.connectStartedAt
    await again.close()

    const result = {
      params,
      trace: { name: params.trace, gzBytes: trace.gzBytes, txnsReplayed: txns.length, full, finalChars: expectedText.length },
      updatesSent,
      bytesSent,
      uploadSeconds: round(uploadMs / 1000, 3),
      updatesPerSecond: round(updatesSent / (uploadMs / 1000), 0),
      serverCpuSecondsUpload: round(uploadCpu, 3),
      serverRssAfterUploadMiB: round(memAfterUpload.rss / MiB, 1),
      serverPeakRssUploadMiB: round(memAfterUpload.hwm / MiB, 1),
      maxClientBufferedBytes: maxBuffered,
      writerContentOk: writerOk,
      serverContentOk: serverOk,
      warmSyncMs: round(warmSyncMs, 1),
      encodedBytes,
      encodedV2Bytes,
      dataDirBytesAfterUnload: quiet.bytes,
      dataDirFilesAfterUnload: quiet.files,
      dataDirQuiet: quiet.quiet,
      dataDirWaitMs: round(quiet.waitedMs, 0),
      dataDirBytesAfterStop: afterStop.bytes,
      dataDirBytesAfterRestartOpen: afterRestartOpen.bytes,
      storageRatio: round(quiet.bytes / encodedBytes, 2),
      coldLoadMs: round(coldMs, 1),
      coldOpenMs: round(coldOpenMs, 1),
      coldSyncStep2ArrivedMs: round(coldArriveMs, 1),
      coldSyncStep2Bytes: coldStep2Bytes,
      coldServerCpuSeconds: round(coldCpu, 3),
      coldServerRssMiB: round(coldMem.rss / MiB, 1),
      contentAtSynced,
      reloadMs: round(reloadMs, 1),
      reloadSyncStep2ArrivedMs: round(reloadArriveMs, 1),
      reloadContentOk: reloadOk,
      coldUpdatesBeforeSynced: cold.stats.updatesIn,
      serverProblems: server.problems.slice(0, 10),
    }
    log(`bigdoc: ${updatesSent} updates in ${result.uploadSeconds} s; data dir ${quiet.bytes} B vs encoded ${encodedBytes} B (×${result.storageRatio}); cold load ${result.coldLoadMs} ms, content at synced: ${contentAtSynced}`)
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

export function rows(r) {
  return [
    ['trace / txns', `${r.trace.name} / ${r.trace.txnsReplayed}${r.trace.full ? '' : ' (partial)'}`],
    ['upload time (s)', `${r.uploadSeconds} (${r.updatesPerSecond} updates/s, server CPU ${r.serverCpuSecondsUpload} s)`],
    ['content correct (writer / via server)', `${r.writerContentOk} / ${r.serverContentOk}`],
    ['data dir bytes after unload', `${r.dataDirBytesAfterUnload} (${r.dataDirFilesAfterUnload} files; after stop ${r.dataDirBytesAfterStop}, after reopen ${r.dataDirBytesAfterRestartOpen})`],
    ['encodeStateAsUpdate bytes (v1 / v2)', `${r.encodedBytes} / ${r.encodedV2Bytes}`],
    ['data dir / encoded', `${r.storageRatio}`],
    ['cold load: connect → synced (ms)', `${r.coldLoadMs} (socket open ${r.coldOpenMs}, SyncStep2 of ${r.coldSyncStep2Bytes} B arrived ${r.coldSyncStep2ArrivedMs}, rest is the client applying it)`],
    ['content present at synced', `${r.contentAtSynced}`],
    ['reload in the same server after unload (ms)', `${r.reloadMs} (SyncStep2 arrived ${r.reloadSyncStep2ArrivedMs}; content ok: ${r.reloadContentOk})`],
    ['server peak RSS during upload (MiB)', `${r.serverPeakRssUploadMiB}`],
  ]
}
