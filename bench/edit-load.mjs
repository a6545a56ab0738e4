/**
 * Paced editing load shared by the fanout and rooms scenarios: `docs` documents with
 * `clientsPerDoc` connected clients each; the first `writersPerDoc` clients of every document
 * append `rate` marks per second for `durationS` seconds. Every mark should reach every other
 * client of its document.
 *
 * Reports delivered/expected (expected = marks sent × (clientsPerDoc − 1); a writer's own echo is
 * counted separately, and so is Hocuspocus' SyncStatus answer to each of a writer's updates, the
 * "ack"), receive latency (frame arrival at the receiver − send time at the writer,
 * same process clock; also at the readers alone, the clients that do not write), server CPU
 * seconds over the edit phase (send + drain) and peak RSS.
 *
 * runEditLoad starts one server for it; driveEditLoad takes servers already started and a
 * placement of the clients on them (the cluster scenario: writers on one instance, readers on
 * another), and reports CPU and memory per server as well as summed.
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
 * @property {number} [settleMs] pause between the last client synced and the first edit
 */

/**
 * @param {{params: EditLoadParams, serverKind: string, room: (d: number) => string, label: string, log?: (s: string) => void}} ctx
 */
export async function runEditLoad({ params, serverKind, room, label, log = console.log }) {
  const server = await startServer({ kind: serverKind })
  try {
    return { ...(await driveEditLoad({ params, servers: [server], room, label, log })), target: serverKind }
  } finally {
    await server.stop()
    await removeDir(server.dataDir)
  }
}

/**
 * @param {{params: EditLoadParams, servers: import('./server-process.mjs').ServerHandle[],
 *   serverOf?: (client: number) => number, room: (d: number) => string, label: string, log?: (s: string) => void}} ctx
 *   serverOf: index in `servers` of the server client i connects to (default: all on the first)
 */
export async function driveEditLoad({ params, servers, serverOf = () => 0, room, label, log = console.log }) {
  const { docs, clientsPerDoc, writersPerDoc, rate, durationS, drainMs, tickMs, concurrency, settleMs = 0 } = params
  if (writersPerDoc > clientsPerDoc) throw new Error('writersPerDoc > clientsPerDoc')
  const can = servers[0].can
  const clock = new MarkClock()
  const latencies = []
  const readerLatencies = [] // at clients that do not write
  /** @type {Set<object>} */
  let writerSet = new Set()
  const echoLatencies = [] // writer → server → same writer
  let echoes = 0
  const ackLatencies = [] // Hocuspocus: update sent → its SyncStatus back at the writer
  const onAck = (arrivedAt, sentAt) => void ackLatencies.push(arrivedAt - sentAt)
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
      if (!writerSet.has(client)) readerLatencies.push(arrivedAt - sentAt)
    }
    const total = docs * clientsPerDoc
    const connectStart = performance.now()
    // Client i belongs to document i % docs, so every document fills up evenly while connecting.
    clients = await connectMany(
      total,
      (i) => ({ url: servers[serverOf(i)].url, protocol: servers[serverOf(i)].protocol, room: room(i % docs), id: `c${i}`, onMark, onAck, handshake: can.sync, syncTimeoutMs: 60_000 }),
      { concurrency },
    )
    const connectMs = performance.now() - connectStart
    const rssConnected = servers.map((s) => s.memory().rss)
    if (settleMs > 0) await sleep(settleMs)

    // Writers: the first writersPerDoc clients of each document.
    const writers = clients.slice(0, docs * writersPerDoc)
    writerSet = new Set(writers)
    const nWriters = writers.length
    const perWriter = Math.round(rate * durationS)
    const sent = new Array(nWriters).fill(0)
    const cpu0 = servers.map((s) => s.cpuSeconds())
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
    const expectedEchoes = can.echo ? totalSent : 0

    // Drain: wait until everything arrived or drainMs passed.
    const drainStart = performance.now()
    while ((delivered + duplicates < expected || echoes < expectedEchoes) && performance.now() - drainStart < drainMs) await sleep(10)
    const drainWaitMs = performance.now() - drainStart
    const cpu = servers.map((s, i) => s.cpuSeconds() - cpu0[i])
    const clientCpu = process.cpuUsage(clientCpu0)
    loopDelay.disable()
    const mem = servers.map((s) => s.memory())
    const lat = summarize(latencies)
    const readerLat = summarize(readerLatencies)
    const echo = summarize(echoLatencies)
    const ack = summarize(ackLatencies)
    const cpuSum = cpu.reduce((a, b) => a + b, 0)
    const ms = (x) => ({ p50: round(x.p50, 2), p90: round(x.p90, 2), p99: round(x.p99, 2), max: round(x.max, 2), mean: round(x.mean, 2) })

    const result = {
      params,
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
      latencyMs: ms(lat),
      readerLatencyMs: ms(readerLat),
      readerDeliveries: readerLatencies.length,
      echoes,
      echoLatencyMs: { p50: round(echo.p50, 2), p99: round(echo.p99, 2), max: round(echo.max, 2) },
      acks: ackLatencies.length,
      ackLatencyMs: { p50: round(ack.p50, 2), p99: round(ack.p99, 2), max: round(ack.max, 2) },
      // Summed over the servers (one server: its own figures).
      serverCpuSeconds: round(cpuSum, 3),
      serverCpuPercentOfOneCore: round((cpuSum / ((performance.now() - start) / 1000)) * 100, 1),
      benchProcessCpuSeconds: round((clientCpu.user + clientCpu.system) / 1e6, 3),
      benchLoopDelayMs: { p99: round(loopDelay.percentile(99) / 1e6, 1), max: round(loopDelay.max / 1e6, 1) },
      serverRssConnectedMiB: round(rssConnected.reduce((a, b) => a + b, 0) / MiB, 1),
      serverRssMiB: round(mem.reduce((a, m) => a + m.rss, 0) / MiB, 1),
      serverPeakRssMiB: round(mem.reduce((a, m) => a + m.hwm, 0) / MiB, 1),
      perServer: servers.map((s, i) => ({
        clients: clients.filter((_, c) => serverOf(c) === i).length,
        cpuSeconds: round(cpu[i], 3),
        rssConnectedMiB: round(rssConnected[i] / MiB, 1),
        peakRssMiB: round(mem[i].hwm / MiB, 1),
      })),
      clientsClosedEarly: clients.filter((c) => c.closed).length,
      serverProblems: servers.flatMap((s, i) => s.problems.slice(0, 10).map((p) => (servers.length > 1 ? `[${i}] ${p}` : p))),
    }
    log(`${label}: ${totalSent} marks sent, ${delivered}/${expected} delivered, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, max ${result.latencyMs.max} ms, server CPU ${result.serverCpuSeconds} s`)
    return result
  } finally {
    await closeAll(clients)
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
    ...(r.acks ? [['writer ack (SyncStatus) p50 / p99 / max (ms)', `${r.ackLatencyMs.p50} / ${r.ackLatencyMs.p99} / ${r.ackLatencyMs.max} (${r.acks} acks)`]] : []),
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
