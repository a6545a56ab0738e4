/**
 * idle: `sockets` synced, silent connections spread round-robin over `docs` (empty) documents.
 * Server RSS is read after one warm-up connection and a settle wait (baseline), and again once
 * every socket is synced and the server has settled. Per-connection cost = ΔRSS / sockets; it
 * includes the `docs` loaded rooms (Y.Doc + Awareness each) and whatever the V8 heap grew by.
 * No GC is forced: the server runs exactly as a user starts it, so young-generation pages touched
 * while connecting (tens of MiB) add noise of up to ~30 KiB per connection at N = 1000. The
 * sockets are therefore connected in two halves; the second half's ΔRSS / (N/2) is reported as
 * the marginal cost: rooms are already loaded and the young generation already resident, so it
 * is the steadier per-socket number.
 */
import { BenchClient, closeAll, connectMany } from '../client.mjs'
import { removeDir, sleep, startServer } from '../server-process.mjs'
import { MiB, round } from '../stats.mjs'

export const name = 'idle'
export const description = 'N idle synced sockets over D docs; server RSS per connection'
export const requires = []
export const defaults = { sockets: 2000, docs: 100, settleMs: 2000, concurrency: 50 }
export const quickParams = { sockets: 200, docs: 20, settleMs: 250 }

export async function run({ params, serverKind = 'quire', log = console.log }) {
  const { sockets, docs, settleMs, concurrency } = params
  const server = await startServer({ kind: serverKind })
  const handshake = server.can.sync
  let clients = []
  try {
    const warm = new BenchClient({ url: server.url, protocol: server.protocol, room: 'warm-up', id: 'warm', handshake })
    await warm.synced
    warm.insert('x')
    await sleep(100)
    await warm.close()
    await sleep(settleMs)
    const before = server.memory()
    const cpu0 = server.cpuSeconds()

    const half = Math.floor(sockets / 2)
    const options = (i) => ({ url: server.url, protocol: server.protocol, room: `idle-${i % docs}`, id: `i${i}`, syncTimeoutMs: 60_000, handshake })
    const t0 = performance.now()
    clients = await connectMany(half, options, { concurrency })
    let connectMs = performance.now() - t0
    await sleep(settleMs)
    const afterHalf = server.memory()
    const t1 = performance.now()
    const second = await connectMany(sockets - half, (i) => options(half + i), { concurrency }).catch(async (error) => {
      await closeAll(clients)
      throw error
    })
    connectMs += performance.now() - t1
    clients = clients.concat(second)
    const cpuConnect = server.cpuSeconds() - cpu0
    const atSynced = server.memory()
    await sleep(settleMs)
    const after = server.memory()
    const open = clients.filter((c) => !c.closed).length

    await closeAll(clients)
    clients = []
    await sleep(settleMs)
    const afterClose = server.memory()

    const deltaRss = after.rss - before.rss
    const result = {
      params,
      target: serverKind,
      connectSeconds: round(connectMs / 1000, 3),
      connectionsPerSecond: round(sockets / (connectMs / 1000), 0),
      serverCpuSecondsConnecting: round(cpuConnect, 3),
      stillOpenAfterSettle: open,
      rssBeforeMiB: round(before.rss / MiB, 1),
      rssAtSyncedMiB: round(atSynced.rss / MiB, 1),
      rssAfterSettleMiB: round(after.rss / MiB, 1),
      rssAfterCloseMiB: round(afterClose.rss / MiB, 1),
      peakRssMiB: round(afterClose.hwm / MiB, 1),
      rssAfterHalfMiB: round(afterHalf.rss / MiB, 1),
      rssPerConnectionKiB: round(deltaRss / sockets / 1024, 1),
      rssPerConnectionMarginalKiB: round((after.rss - afterHalf.rss) / (sockets - half) / 1024, 1),
      serverProblems: server.problems.slice(0, 10),
    }
    log(`idle: ${sockets} sockets in ${result.connectSeconds} s, RSS ${result.rssBeforeMiB} → ${result.rssAfterSettleMiB} MiB, ${result.rssPerConnectionKiB} KiB/connection (marginal ${result.rssPerConnectionMarginalKiB})`)
    return result
  } finally {
    await closeAll(clients)
    await server.stop()
    await removeDir(server.dataDir)
  }
}

export function rows(r) {
  return [
    ['sockets / docs', `${r.params.sockets} / ${r.params.docs}`],
    ['connect+sync all (s)', `${r.connectSeconds} (${r.connectionsPerSecond}/s, server CPU ${r.serverCpuSecondsConnecting} s)`],
    ['RSS before → half → all, settled (MiB)', `${r.rssBeforeMiB} → ${r.rssAfterHalfMiB} → ${r.rssAfterSettleMiB} (after close ${r.rssAfterCloseMiB})`],
    ['RSS per connection: all / second half only (KiB)', `${r.rssPerConnectionKiB} / ${r.rssPerConnectionMarginalKiB}`],
    ['still open after settle', `${r.stillOpenAfterSettle} / ${r.params.sockets}`],
  ]
}

export function metrics(r) {
  return [
    { key: 'perConn', label: 'RSS per connection, all (KiB)', value: r.rssPerConnectionKiB, better: 'lower' },
    { key: 'marginal', label: 'RSS per connection, second half (KiB)', value: r.rssPerConnectionMarginalKiB, better: 'lower' },
    { key: 'cpu', label: 'server CPU to connect all (s)', value: r.serverCpuSecondsConnecting, better: 'lower' },
    { key: 'open', label: 'still open after settle', value: r.stillOpenAfterSettle, better: 'higher' },
  ]
}
