/**
 * churn: `cycles` connect → synced → disconnect cycles spread over `docs` documents, `concurrency`
 * at a time. Afterwards every client is gone, so a server that frees what it no longer needs has
 * no document loaded and its RSS is back near where it started.
 *
 * "Rooms loaded afterwards" needs the server to say how many documents it holds. Neither Quire
 * (today) nor the reference server has an endpoint for that, and the bench does not turn on debug
 * logging; the bench asks GET /metrics for a gauge whose name mentions rooms or documents and
 * reports n/a if there is none. RSS before, after and at the peak is always reported.
 */
import { BenchClient } from '../client.mjs'
import { removeDir, sleep, startServer } from '../server-process.mjs'
import { MiB, round } from '../stats.mjs'

export const name = 'churn'
export const description = 'N connect/disconnect cycles over D docs; rooms loaded and RSS afterwards'
export const requires = []
export const defaults = { cycles: 5000, docs: 50, concurrency: 20, settleMs: 2000, timeoutS: 120 }
export const quickParams = { cycles: 200, settleMs: 250 }

/**
 * A gauge of loaded rooms/documents from GET /metrics (Prometheus text), or null.
 * @returns {Promise<{metric: string, value: number} | null>}
 */
async function loadedRooms(server) {
  try {
    const res = await fetch(`http://${server.host}:${server.port}/metrics`, { signal: AbortSignal.timeout(2000) })
    if (!res.ok) return null
    const text = await res.text()
    const m = /^(\w*(?:room|doc)\w*(?:loaded|open|active|in_memory)\w*|\w*(?:loaded|open|active)\w*(?:room|doc)s?\w*)(?:\{[^}]*\})?\s+([0-9.eE+-]+)$/m.exec(text)
    return m ? { metric: m[1], value: Number(m[2]) } : null
  } catch {
    return null
  }
}

export async function run({ params, serverKind = 'quire', log = console.log }) {
  const { cycles, docs, concurrency, settleMs, timeoutS } = params
  const server = await startServer({ kind: serverKind })
  const handshake = server.can.sync
  let failures = 0
  let firstError = null
  try {
    const warm = new BenchClient({ url: server.url, protocol: server.protocol, room: 'churn-warm-up', id: 'warm', handshake })
    await warm.synced
    await warm.close()
    await sleep(settleMs)
    const before = server.memory()
    const roomsBefore = await loadedRooms(server)
    const cpu0 = server.cpuSeconds()

    let next = 0
    const deadline = performance.now() + timeoutS * 1000
    const t0 = performance.now()
    const worker = async () => {
      while (next < cycles && performance.now() < deadline) {
        const i = next++
        const c = new BenchClient({ url: server.url, protocol: server.protocol, room: `churn-${i % docs}`, id: `ch${i}`, handshake, syncTimeoutMs: 10_000 })
        try {
          await c.synced
        } catch (error) {
          failures++
          firstError ??= String(error?.message ?? error)
        }
        await c.close()
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, cycles) }, worker))
    const seconds = (performance.now() - t0) / 1000
    const cpu = server.cpuSeconds() - cpu0
    const atEnd = server.memory()
    await sleep(settleMs)
    const after = server.memory()
    const rooms = await loadedRooms(server)

    const result = {
      params,
      target: serverKind,
      cyclesDone: next,
      failures,
      firstError,
      seconds: round(seconds, 2),
      cyclesPerSecond: round(next / seconds, 0),
      serverCpuSeconds: round(cpu, 3),
      rssBeforeMiB: round(before.rss / MiB, 1),
      rssAtEndMiB: round(atEnd.rss / MiB, 1),
      rssAfterMiB: round(after.rss / MiB, 1),
      rssGrowthMiB: round((after.rss - before.rss) / MiB, 1),
      peakRssMiB: round(after.hwm / MiB, 1),
      roomsLoadedBefore: roomsBefore?.value ?? null,
      roomsLoadedAfter: rooms?.value ?? null,
      roomsMetric: rooms?.metric ?? null,
      serverProblems: server.problems.slice(0, 10),
    }
    log(`churn: ${next} cycles in ${result.seconds} s (${failures} failed), RSS ${result.rssBeforeMiB} → ${result.rssAfterMiB} MiB, rooms loaded afterwards: ${rooms ? rooms.value : 'n/a (no endpoint)'}`)
    return result
  } finally {
    await server.stop()
    await removeDir(server.dataDir)
  }
}

export function rows(r) {
  return [
    ['cycles / docs / concurrency', `${r.cyclesDone} of ${r.params.cycles} / ${r.params.docs} / ${r.params.concurrency} (${r.failures} failed${r.firstError ? `: ${r.firstError}` : ''})`],
    ['time (s)', `${r.seconds} (${r.cyclesPerSecond} cycles/s, server CPU ${r.serverCpuSeconds} s)`],
    ['RSS before → end → settled (MiB)', `${r.rssBeforeMiB} → ${r.rssAtEndMiB} → ${r.rssAfterMiB} (peak ${r.peakRssMiB})`],
    ['rooms loaded afterwards', r.roomsMetric ? `${r.roomsLoadedAfter} (${r.roomsMetric}; before ${r.roomsLoadedBefore})` : 'n/a: no endpoint reports it (GET /metrics has no rooms gauge)'],
  ]
}

export function metrics(r) {
  return [
    { key: 'rate', label: 'cycles/s', value: r.cyclesPerSecond, better: 'higher' },
    { key: 'cpu', label: 'server CPU (s)', value: r.serverCpuSeconds, better: 'lower' },
    { key: 'growth', label: 'RSS growth after settle (MiB)', value: r.rssGrowthMiB, better: 'lower' },
    { key: 'rooms', label: 'rooms loaded afterwards', value: r.roomsLoadedAfter ?? 'n/a (no endpoint)', better: 'lower' },
    { key: 'failures', label: 'failed cycles', value: r.failures, better: 'lower' },
  ]
}
