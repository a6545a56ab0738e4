/** Prometheus metrics of the cluster bus (cluster/), in the server's own registry. */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { ClusterMetrics } from './cluster.js'

export function clusterMetrics(registry: Registry, connected: () => boolean): ClusterMetrics {
  const registers = [registry]
  new Gauge({
    name: 'quire_cluster_connected',
    help: '1 while both connections of the cluster bus to Redis are up',
    registers,
    collect() {
      this.set(connected() ? 1 : 0)
    },
  })
  const published = new Counter({
    name: 'quire_cluster_published_total',
    help: 'Messages published on the cluster bus, by type and result (failed: Redis unreachable)',
    labelNames: ['type', 'result'],
    registers,
  })
  const received = new Counter({ name: 'quire_cluster_received_total', help: 'Messages received from other instances, by type', labelNames: ['type'], registers })
  const catchUps = new Counter({
    name: 'quire_cluster_catchups_total',
    help: 'Gaps in a document\'s updates filled from the store (kind: log, or full when compaction had folded the range)',
    labelNames: ['kind'],
    registers,
  })
  return {
    published: (type, ok) => published.inc({ type, result: ok ? 'ok' : 'failed' }),
    received: (type) => received.inc({ type }),
    caughtUp: (full) => catchUps.inc({ kind: full ? 'full' : 'log' }),
  }
}
