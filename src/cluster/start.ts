/**
 * Joins the cluster: connects the bus and starts relaying. Loaded lazily, so a single instance
 * never loads the Redis client.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Registry } from 'prom-client'
import type { Redis } from 'ioredis'
import type { DocStore } from '../storage/doc-store.js'
import type { RoomRegistry } from '../room/registry.js'
import type { Logger } from '../logger.js'
import { clusterMetrics } from './metrics.js'
import { Cluster, DEFAULT_CLUSTER_TIMING, type ClusterTiming } from './cluster.js'

export interface ClusterSettings {
  url: string
  prefix?: string
  instanceId?: string
  timing?: Partial<ClusterTiming>
  connectTimeoutMs?: number
}

export interface RunningCluster {
  /** This instance's name (logs, metrics). */
  readonly instanceId: string
  /** A Redis connection for the REST rate limit, so its counts hold across instances. */
  readonly rateLimitStore: Redis
  readonly prefix: string
  isConnected(): boolean
  /** An awareness update for an event stream this instance does not hold: to the instance that does. */
  forwardStreamAwareness(name: string, stream: string, update: Uint8Array): void
  /** Where awareness updates other instances forward for this instance's event streams go. */
  onStreamAwareness(apply: (name: string, stream: string, update: Uint8Array) => void): void
  close(): Promise<void>
}

export const DEFAULT_REDIS_PREFIX = 'quire:'

export async function startCluster(settings: ClusterSettings, registry: RoomRegistry, store: DocStore, prometheus: Registry, log: Logger): Promise<RunningCluster> {
  const { RedisBus } = await import('./redis-bus.js')
  const prefix = settings.prefix ?? DEFAULT_REDIS_PREFIX
  const instanceId = settings.instanceId ?? `${hostname()}-${process.pid}`
  const bus = await RedisBus.open({ url: settings.url, prefix, connectTimeoutMs: settings.connectTimeoutMs ?? 5000, log })
  // On the bus the name gets a per-start suffix: a restarted instance with the same name (a
  // container restarted in place) must not be taken for the one that crashed.
  const busId = `${instanceId}/${randomBytes(4).toString('hex')}`
  const timing = { ...DEFAULT_CLUSTER_TIMING, ...settings.timing }
  const metrics = clusterMetrics(prometheus, () => bus.connected)
  const cluster = new Cluster(busId, bus, registry, store, log, timing, metrics)
  log.info({ instance: busId, prefix }, 'joined the cluster')
  return {
    instanceId,
    prefix,
    rateLimitStore: bus.client,
    isConnected: () => bus.connected,
    forwardStreamAwareness: (name, stream, update) => cluster.forwardStreamAwareness(name, stream, update),
    onStreamAwareness: (apply) => cluster.onStreamAwareness(apply),
    close: () => cluster.close(),
  }
}
