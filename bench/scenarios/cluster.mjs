/**
 * cluster: the fanout load across instances. On quire-cluster two Quire processes share one
 * PostgreSQL schema and one Redis prefix; the writers connect to instance A and the readers to
 * instance B, so every edit a reader sees went A → PostgreSQL → Redis → B. On quire-pg the same
 * load runs on one instance with the same settings (Redis bus on, every client on it): the table's
 * ratio is then the price of the second instance and the hop, not of the store.
 *
 * Latency is taken at the readers (the same method as fanout: arrival at the receiver − send time
 * at the writer, one process clock), delivery over all receivers. Each instance's CPU and peak
 * RSS are reported on their own and summed, with its cluster counters from GET /metrics (updates
 * published and received over the bus, reads of the store to fill gaps).
 */
import { driveEditLoad, editLoadMetrics } from '../edit-load.mjs'
import { REDIS_URL, clusterPrefix } from '../databases.mjs'
import { removeDir, startServer, tempDataDir } from '../server-process.mjs'
import { SERVERS } from '../targets.mjs'

export const name = 'cluster'
export const description = 'fanout across 2 Quire instances (PostgreSQL + Redis): writers on A, readers on B; vs 1 instance'
export const requires = ['cluster']
// settleMs, a precaution: B subscribes to a room's channel only after it loaded the room
// (asynchronously), and an edit published before that would reach B only as a gap read from the
// store. The pause keeps that start-up race out of the measurement.
export const defaults = { clients: 20, writers: 5, rate: 50, durationS: 10, drainMs: 5000, tickMs: 5, settleMs: 500 }
export const quickParams = { clients: 10, writers: 3, durationS: 1, drainMs: 3000, settleMs: 200 }

const instanceName = (i) => String.fromCharCode(65 + i) // A, B, …

/** @param {{params: typeof defaults, serverKind: string, log?: (s: string) => void}} ctx */
export async function run({ params, serverKind, log = console.log }) {
  const { clients, writers, ...rest } = params
  const instances = SERVERS[serverKind].instances ?? 1
  const dataDir = await tempDataDir() // names the schema all instances share
  const prefix = clusterPrefix()
  const started = await Promise.allSettled(
    Array.from({ length: instances }, (_, i) =>
      startServer({ kind: 'quire-pg', dataDir, env: { REDIS_URL, REDIS_PREFIX: prefix, INSTANCE_ID: instanceName(i) } }),
    ),
  )
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  try {
    const failed = started.find((s) => s.status === 'rejected')
    if (failed) throw failed.reason
    const result = await driveEditLoad({
      params: { docs: 1, clientsPerDoc: clients, writersPerDoc: writers, concurrency: 20, ...rest },
      servers,
      serverOf: (i) => (i < writers ? 0 : instances - 1),
      room: () => 'cluster',
      label: `cluster (${instances} instance${instances > 1 ? 's' : ''})`,
      log,
    })
    const counters = await Promise.all(servers.map(clusterCounters))
    return {
      ...result,
      target: serverKind,
      instances,
      perServer: result.perServer.map((s, i) => ({ instance: instanceName(i), startMs: Math.round(servers[i].startMs), ...s, ...counters[i] })),
    }
  } finally {
    for (const s of servers) await s.stop()
    await removeDir(dataDir)
  }
}

/** Sum of a Prometheus counter's samples whose labels contain `match` (all of them if empty). */
function counter(text, metric, match = '') {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric) || !line.includes(match)) continue
    const value = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (Number.isFinite(value)) sum += value
  }
  return sum
}

async function clusterCounters(server) {
  try {
    const res = await fetch(`http://${server.host}:${server.port}/metrics`, { signal: AbortSignal.timeout(2000) })
    const text = await res.text()
    return {
      updatesPublished: counter(text, 'quire_cluster_published_total{', 'type="update"'),
      updatesReceived: counter(text, 'quire_cluster_received_total{', 'type="update"'),
      // quire_cluster_catchups_total counts the reads of the store that found updates the bus had
      // not brought: gaps (not the routine check when a room is subscribed).
      storeReads: counter(text, 'quire_cluster_catchups_total{'),
    }
  } catch (error) {
    return { metricsError: String(error?.message ?? error) }
  }
}

export function rows(r) {
  const p = r.params
  const lat = (x) => `${x.p50} / ${x.p99} / ${x.max}`
  return [
    ['instances; clients (writers) / edits/s per writer / s', `${r.instances}; ${p.clientsPerDoc} (${p.writersPerDoc}) / ${p.rate} / ${p.durationS}`],
    ['delivered / expected', `${r.delivered} / ${r.expected} (${(r.deliveredRatio * 100).toFixed(2)}%)`],
    ['latency at the readers p50 / p99 / max (ms)', `${lat(r.readerLatencyMs)} (${r.readerDeliveries} deliveries${r.instances > 1 ? ', all across instances' : ''})`],
    ['latency at every receiver p50 / p99 / max (ms)', lat(r.latencyMs)],
    ['writer echo p50 / p99 / max (ms)', `${r.echoLatencyMs.p50} / ${r.echoLatencyMs.p99} / ${r.echoLatencyMs.max} (${r.echoes} echoes)`],
    ['server CPU, all instances (s)', `${r.serverCpuSeconds} (${r.serverCpuPercentOfOneCore}% of a core)`],
    ...r.perServer.map((s) => [
      `instance ${s.instance}: clients / CPU (s) / RSS connected, peak (MiB) / start (ms)`,
      `${s.clients} / ${s.cpuSeconds} / ${s.rssConnectedMiB}, ${s.peakRssMiB} / ${s.startMs}`,
    ]),
    ...r.perServer.map((s) => [
      `instance ${s.instance}: bus updates published / received; catch-up reads from the store`,
      s.metricsError ? `GET /metrics failed: ${s.metricsError}` : `${s.updatesPublished} / ${s.updatesReceived}; ${s.storeReads}`,
    ]),
    ['bench process CPU (s); its event-loop delay p99 / max (ms)', `${r.benchProcessCpuSeconds}; ${r.benchLoopDelayMs.p99} / ${r.benchLoopDelayMs.max}`],
  ]
}

export function metrics(r) {
  const a = r.perServer[0]
  const b = r.perServer[1]
  const one = 'n/a (1 instance)'
  const [delivered, , , , , rss] = editLoadMetrics(r)
  return [
    delivered,
    { key: 'p50', label: 'latency at the readers p50 (ms)', value: r.readerLatencyMs.p50, better: 'lower' },
    { key: 'p99', label: 'latency at the readers p99 (ms)', value: r.readerLatencyMs.p99, better: 'lower' },
    { key: 'max', label: 'latency at the readers max (ms)', value: r.readerLatencyMs.max, better: 'lower' },
    // The writers' echo comes from A in both setups: readers' latency minus it is the hop to B.
    { key: 'echo', label: 'writer echo from A p50 (ms)', value: r.echoLatencyMs.p50, better: 'lower' },
    { key: 'cpu', label: 'server CPU, all instances (s)', value: r.serverCpuSeconds, better: 'lower' },
    { key: 'cpuA', label: 'CPU of instance A, the writers\' (s)', value: a.cpuSeconds, better: 'lower' },
    { key: 'cpuB', label: 'CPU of instance B, the readers\' (s)', value: b ? b.cpuSeconds : one, better: 'lower' },
    { ...rss, label: 'peak RSS, all instances (MiB)' },
    { key: 'rssA', label: 'peak RSS of instance A (MiB)', value: a.peakRssMiB, better: 'lower' },
    { key: 'rssB', label: 'peak RSS of instance B (MiB)', value: b ? b.peakRssMiB : one, better: 'lower' },
    // Beyond the one read per instance at room load: gaps the bus did not fill in time.
    { key: 'gaps', label: 'gaps filled from the store', value: r.perServer.reduce((n, s) => n + (s.storeReads ?? 0), 0), better: 'lower' },
  ]
}
