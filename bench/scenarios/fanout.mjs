/**
 * fanout: one document, `clients` connected clients, the first `writers` of them each append
 * `rate` marks per second for `durationS` seconds. Every mark should reach every other client.
 *
 * Reports delivered/expected (expected = marks sent × (clients − 1); the author's own echo is not
 * counted), receive latency (frame arrival at the receiver − send time at the writer, same
 * process clock), server CPU seconds over the edit phase and the server's peak RSS.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { BenchClient, MarkClock, closeAll, connectMany } from '../client.mjs'
import { removeDir, sleep, startServer } from '../server-process.mjs'
import { MiB, round, summarize } from '../stats.mjs'

export const name = 'fanout'
export const description = '1 doc, N clients, W writers × R edits/s; delivery and latency'
export const defaults = { clients: 20, writers: 5, rate: 50, durationS: 10, drainMs: 5000, tickMs: 5 }
export const quickParams = { durationS: 2 }

/**
 * @param {{params: typeof defaults, serverKind?: string, log?: (s: string) => void}} ctx
 */
export async function run({ params, serverKind = 'quire', log = console.log }) {
  const { clients: nClients, writers: nWriters, rate, durationS, drainMs, tickMs } = params
  if (nWriters > nClients) throw new Error('writers > clients')
  const server = await startServer({ kind: serverKind })
  const clock = new MarkClock()
  const latencies = []
  const echoLatencies = [] // writer → server → same writer
  let echoes = 0
  let delivered = 0
  let duplicates = 0
  let unknown = 0
  /** @type {Map<BenchClient, Set<string>>} */
  const seen = new Map()
  let clients = []
  try {
    const onMark = (key, arrivedAt, client, own) => {
      const sentAt = clock.sentAt(key)
      if (sentAt === undefined) return void unknown++
      if (own) {
        echoes++
        echoLatencies.push(arrivedAt - sentAt)
        return
      }
      let s = seen.get(client)
      if (!s) seen.set(client, (s = new Set()))
      if (s.has(key)) return void duplicates++
      s.add(key)
      delivered++
      latencies.push(arrivedAt - sentAt)
    }
    const connectStart = performance.now()
    clients = await connectMany(nClients, (i) => ({ url: server.url, room: 'fanout', id: `c${i}`, onMark }), { concurrency: 20 })
    const connectMs = performance.now() - connectStart

    const writers = clients.slice(0, nWriters)
    const perWriter = Math.round(rate * durationS)
    const sent = new Array(nWriters).fill(0)
    const totalToSend = perWriter * nWriters
    const cpu0 = server.cpuSeconds()
    const clientCpu0 = process.cpuUsage()
    // The bench process's own event-loop delay bounds how exact its latency numbers can be.
    const loopDelay = monitorEventLoopDelay({ resolution: 5 })
    loopDelay.enable()
    const start = performance.now()

    // Paced sending: writer w's k-th edit is due at (k + w/W) / rate seconds (staggered writers).
    await new Promise((resolve) => {
      const deadline = start + durationS * 1000 + 2000
      const tick = () => {
        const now = performance.now()
        const elapsedS = (now - start) / 1000
        let done = true
        for (let w = 0; w < nWriters; w++) {
          const due = Math.min(perWriter, Math.max(0, Math.floor((elapsedS - w / (nWriters * rate)) * rate) + 1))
          while (sent[w] < due) {
            writers[w].sendMark(clock, `w${w}`, sent[w])
            sent[w]++
          }
          if (sent[w] < perWriter) done = false
        }
        if (done || now > deadline) {
          clearInterval(timer)
          resolve()
        }
      }
      const timer = setInterval(tick, tickMs)
      tick()
    })
    const sendEnd = performance.now()
    const totalSent = sent.reduce((a, b) => a + b, 0)
    const expected = totalSent * (nClients - 1)

    // Drain: wait until everything arrived or drainMs passed.
    const drainStart = performance.now()
    while (delivered + duplicates < expected && performance.now() - drainStart < drainMs) await sleep(10)
    const drainWaitMs = performance.now() - drainStart
    const cpu1 = server.cpuSeconds()
    const clientCpu = process.cpuUsage(clientCpu0)
    loopDelay.disable()
    const mem = server.memory()
    const lat = summarize(latencies)
    const echo = summarize(echoLatencies)
    const closedEarly = clients.filter((c) => c.closed).length

    const result = {
      params,
      connectMs: round(connectMs, 1),
      sendSeconds: round((sendEnd - start) / 1000, 3),
      marksSent: totalSent,
      marksPlanned: totalToSend,
      achievedRatePerWriter: round(totalSent / nWriters / ((sendEnd - start) / 1000), 1),
      expected,
      delivered,
      deliveredRatio: round(delivered / expected, 5),
      duplicates,
      unknown,
      drainWaitMs: round(drainWaitMs, 1),
      latencyMs: { p50: round(lat.p50, 2), p90: round(lat.p90, 2), p99: round(lat.p99, 2), max: round(lat.max, 2), mean: round(lat.mean, 2) },
      echoes,
      echoLatencyMs: { p50: round(echo.p50, 2), p99: round(echo.p99, 2), max: round(echo.max, 2) },
      serverCpuSeconds: round(cpu1 - cpu0, 3),
      serverCpuPercentOfOneCore: round(((cpu1 - cpu0) / ((performance.now() - start) / 1000)) * 100, 1),
      benchProcessCpuSeconds: round((clientCpu.user + clientCpu.system) / 1e6, 3),
      benchLoopDelayMs: { p99: round(loopDelay.percentile(99) / 1e6, 1), max: round(loopDelay.max / 1e6, 1) },
      serverRssMiB: round(mem.rss / MiB, 1),
      serverPeakRssMiB: round(mem.hwm / MiB, 1),
      clientsClosedEarly: closedEarly,
      serverProblems: server.problems.slice(0, 10),
    }
    log(`fanout: ${totalSent} marks sent, ${delivered}/${expected} delivered, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, max ${result.latencyMs.max} ms`)
    return result
  } finally {
    await closeAll(clients)
    await server.stop()
    await removeDir(server.dataDir)
  }
}

export function rows(r) {
  return [
    ['clients / writers / edits/s per writer / s', `${r.params.clients} / ${r.params.writers} / ${r.params.rate} / ${r.params.durationS}`],
    ['delivered / expected', `${r.delivered} / ${r.expected} (${(r.deliveredRatio * 100).toFixed(2)}%)`],
    ['latency p50 / p99 / max (ms)', `${r.latencyMs.p50} / ${r.latencyMs.p99} / ${r.latencyMs.max}`],
    ['writer echo p50 / p99 / max (ms)', `${r.echoLatencyMs.p50} / ${r.echoLatencyMs.p99} / ${r.echoLatencyMs.max} (${r.echoes} echoes)`],
    ['server CPU (s)', `${r.serverCpuSeconds} (${r.serverCpuPercentOfOneCore}% of a core)`],
    ['server peak RSS (MiB)', `${r.serverPeakRssMiB}`],
    ['bench process CPU (s); its event-loop delay p99 / max (ms)', `${r.benchProcessCpuSeconds}; ${r.benchLoopDelayMs.p99} / ${r.benchLoopDelayMs.max}`],
  ]
}
