/**
 * Paced editing load shared by the fanout and rooms scenarios: `docs` documents with
 * `clientsPerDoc` connected clients each; the first `writersPerDoc` clients of every document
 * append `rate` marks per second for `durationS` seconds. Every mark should reach every other
 * client of its document.
 *
 * Reports delivered/expected (expected = marks sent × (clientsPerDoc − 1); a writer's own echo is
 * counted separately), receive latency (frame arrival at the receiver − send time at the writer,
 * same process clock), server CPU seconds over the edit phase (send + drain) and peak RSS.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { MarkClock, closeAll, connectMany } from './client.mjs'
import { removeDir, sleep, startServer } from './server-process.mjs'
import { MiB, round, summarize } from './stats.mjs'

/**
 * @typedef {object} EditLoadParams
 * @property {number} docs
 * @property {number} clientsPerDoc
 * @property {number} writersPerDoc
 * @property {number} rate marks per second per writer
 * @property {number} durationS
 * @property {number} drainMs longest wait for outstanding deliveries after the last send
 * @property {number} tickMs pacing timer interval
 * @property {number} concurrency handshakes in flight while connecting
 */

/**
 * @param {{params: EditLoadParams, serverKind: string, room: (d: number) => string, label: string, log?: (s: string) => void}} ctx
 */
export async function runEditLoad({ params, serverKind, room, label, log = console.log }) {
  const { docs, clientsPerDoc, writersPerDoc, rate, durationS, drainMs, tickMs, concurrency } = params
  if (writersPerDoc > clientsPerDoc) throw new Error('writersPerDoc > clientsPerDoc')
  const server = await startServer({ kind: serverKind })
  const clock = new MarkClock()
  const latencies = []
  const echoLatencies = [] // writer → server → same writer
  let echoes = 0
  let delivered = 0
  let duplicates = 0
  let unknown = 0
  /** @type {Map<object, Set<string>>} */
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
    const total = docs * clientsPerDoc
    const connectStart = performance.now()
    // Client i belongs to document i % docs, so every document fills up evenly while connecting.
    clients = await connectMany(
      total,
      (i) => ({ url: server.url, room: room(i % docs), id: `c${i}`, onMark, handshake: server.can.sync, syncTimeoutMs: 60_000 }),
      { concurrency },
    )
    const connectMs = performance.now() - connectStart
    const rssConnected = server.memory().rss

    // Writers: the first writersPerDoc clients of each document.
    const writers = clients.slice(0, docs * writersPerDoc)
    const nWriters = writers.length
    const perWriter = Math.round(rate * durationS)
    const sent = new Array(nWriters).fill(0)
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
          resolve(undefined)
        }
      }
      const timer = setInterval(tick, tickMs)
      tick()
    })
    const sendEnd = performance.now()
    const totalSent = sent.reduce((a, b) => a + b, 0)
    const expected = totalSent * (clientsPerDoc - 1)
    const expectedEchoes = server.can.echo ? totalSent : 0

    // Drain: wait until everything arrived or drainMs passed.
    const drainStart = performance.now()
    while ((delivered + duplicates < expected || echoes < expectedEchoes) && performance.now() - drainStart < drainMs) await sleep(10)
    const drainWaitMs = performance.now() - drainStart
    const cpu1 = server.cpuSeconds()
    const clientCpu = process.cpuUsage(clientCpu0)
    loopDelay.disable()
    const mem = server.memory()
    const lat = summarize(latencies)
    const echo = summarize(echoLatencies)

    const result = {
      params,
      target: serverKind,
      connectMs: round(connectMs, 1),
      sendSeconds: round((sendEnd - start) / 1000, 3),
      marksSent: totalSent,
      marksPlanned: perWriter * nWriters,
      achievedRatePerWriter: round(totalSent / nWriters / ((sendEnd - start) / 1000), 2),
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
      serverRssConnectedMiB: round(rssConnected / MiB, 1),
      serverRssMiB: round(mem.rss / MiB, 1),
      serverPeakRssMiB: round(mem.hwm / MiB, 1),
      clientsClosedEarly: clients.filter((c) => c.closed).length,
      serverProblems: server.problems.slice(0, 10),
    }
    log(`${label}: ${totalSent} marks sent, ${delivered}/${expected} delivered, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, max ${result.latencyMs.max} ms, server CPU ${result.serverCpuSeconds} s`)
    return result
  } finally {
    await closeAll(clients)
    await server.stop()
    await removeDir(server.dataDir)
  }
}

/** Per-run table rows. */
export function editLoadRows(r) {
  const p = r.params
  return [
    ['docs × clients (writers) / edits/s per writer / s', `${p.docs} × ${p.clientsPerDoc} (${p.writersPerDoc}) / ${p.rate} / ${p.durationS}`],
    ['delivered / expected', `${r.delivered} / ${r.expected} (${(r.deliveredRatio * 100).toFixed(2)}%)`],
    ['latency p50 / p99 / max (ms)', `${r.latencyMs.p50} / ${r.latencyMs.p99} / ${r.latencyMs.max}`],
    ['writer echo p50 / p99 / max (ms)', r.echoes ? `${r.echoLatencyMs.p50} / ${r.echoLatencyMs.p99} / ${r.echoLatencyMs.max} (${r.echoes} echoes)` : 'no echoes (the server does not echo)'],
    ['server CPU (s)', `${r.serverCpuSeconds} (${r.serverCpuPercentOfOneCore}% of a core)`],
    ['server RSS connected / peak (MiB)', `${r.serverRssConnectedMiB} / ${r.serverPeakRssMiB}`],
    ['bench process CPU (s); its event-loop delay p99 / max (ms)', `${r.benchProcessCpuSeconds}; ${r.benchLoopDelayMs.p99} / ${r.benchLoopDelayMs.max}`],
  ]
}

/** Figures compared across servers. */
export function editLoadMetrics(r) {
  return [
    { key: 'delivered', label: 'delivered (%)', value: round(r.deliveredRatio * 100, 3), better: 'higher', digits: 2 },
    { key: 'p50', label: 'latency p50 (ms)', value: r.latencyMs.p50, better: 'lower' },
    { key: 'p99', label: 'latency p99 (ms)', value: r.latencyMs.p99, better: 'lower' },
    { key: 'max', label: 'latency max (ms)', value: r.latencyMs.max, better: 'lower' },
    { key: 'cpu', label: 'server CPU (s)', value: r.serverCpuSeconds, better: 'lower' },
    { key: 'rss', label: 'server peak RSS (MiB)', value: r.serverPeakRssMiB, better: 'lower' },
  ]
}
