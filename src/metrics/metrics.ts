/**
 * Prometheus metrics for one Quire server, on a registry of its own so that several servers in
 * one process (tests, multi-tenant apps) never clash. Labels are bounded: message types and close
 * codes come from fixed sets, document names are never labels.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from './prom.js'
import { CLOSE_ERRORS, KNOWN_CLOSE_CODES, type CloseErrorCode } from '../protocol/close-codes.js'
import { PRESENCE_DROPS, type PresenceDrop } from '../room/presence.js'
import type { RoomMetrics } from '../room/room.js'
import { frameType, type StorageMetrics, type TransportMetrics, type WireProtocol } from './hooks.js'
import { LIMIT_NAMES, type LimitMetrics, type LimitName } from '../limits/limits.js'

let processRegistry: Registry | undefined

/**
 * Default metrics (CPU, memory, event loop, GC) describe the process, not a server. They live in
 * one registry per process: collectDefaultMetrics installs GC observers and an event-loop monitor
 * that are never removed, so installing them per server would leak in long test runs.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}


/** A peer may send any close code from 1000 to 4999; only codes with a meaning become labels. */
function closeCodeLabel(code: number): string {
  return (code >= 1000 && code <= 1015) || KNOWN_CLOSE_CODES.has(code) ? String(code) : 'other'
}

interface Tally {
  messages: number
  bytes: number
}

function tally(tallies: Map<string, Tally>, type: string, bytes: number): void {
  const t = tallies.get(type)
  if (t) {
    t.messages++
    t.bytes += bytes
  } else {
    tallies.set(type, { messages: 1, bytes })
  }
}

export interface MetricsSources {
  /** Rooms currently loaded, read at scrape time. */
  loadedRooms(): number
}

export interface MetricsTotals {
  connections: number
  messagesIn: number
  messagesOut: number
  bytesIn: number
  bytesOut: number
}

export class QuireMetrics implements TransportMetrics, StorageMetrics, LimitMetrics, RoomMetrics {
  readonly registry = new Registry()
  private readonly connections: Gauge
  private readonly connectionsOpened: Counter<'protocol'>
  private readonly peerGauge: Gauge<'protocol'>
  private readonly closes: Counter<'code'>
  private readonly errors: Counter<'code'>
  private readonly awarenessDrops: Counter<'reason'>
  private readonly earlyUpdates: Counter
  private readonly appendedBytes: Counter
  private readonly messagesIn: Counter<'type'>
  private readonly messagesOut: Counter<'type'>
  private readonly bytesIn: Counter<'type'>
  private readonly bytesOut: Counter<'type'>
  private readonly applySeconds: Histogram
  private readonly writeSeconds: Histogram
  private readonly storageErrors: Counter<'operation'>
  private readonly compactions: Counter
  private readonly limitRejections: Counter<'limit'>
  /**
   * Frames and bytes by type since the last scrape, in plain numbers added to the counters when
   * they are read (collect): a frame relayed to 1000 peers is counted 1000 times, and two labelled
   * prom-client increments per frame were ~2 % of the server's CPU in the rooms bench.
   */
  private readonly trafficIn = new Map<string, Tally>()
  private readonly trafficOut = new Map<string, Tally>()

  constructor(sources: MetricsSources) {
    const registers = [this.registry]
    this.connections = new Gauge({ name: 'quire_connections', help: 'Open WebSocket connections', registers })
    new Gauge({
      name: 'quire_rooms_loaded',
      help: 'Documents loaded in memory',
      registers,
      collect() {
        this.set(sources.loadedRooms())
      },
    })
    this.connectionsOpened = new Counter({ name: 'quire_connections_opened_total', help: 'Connections accepted (WebSockets and SSE streams), by wire protocol', labelNames: ['protocol'], registers })
    this.peerGauge = new Gauge({
      name: 'quire_peers',
      help: 'Connections joined to a document, by wire protocol: a Hocuspocus socket counts once per open document',
      labelNames: ['protocol'],
      registers,
    })
    for (const protocol of ['y-websocket', 'hocuspocus', 'sse']) {
      this.connectionsOpened.inc({ protocol }, 0)
      this.peerGauge.set({ protocol }, 0)
    }
    this.closes = new Counter({
      name: 'quire_connection_closes_total',
      help: 'WebSocket connections closed, by close code (unlisted codes are "other")',
      labelNames: ['code'],
      registers,
    })
    this.errors = new Counter({
      name: 'quire_connection_errors_total',
      help: 'Connections the server closed, by error code (docs/errors.md)',
      labelNames: ['code'],
      registers,
    })
    for (const code of Object.keys(CLOSE_ERRORS)) this.errors.inc({ code }, 0)
    this.awarenessDrops = new Counter({
      name: 'quire_awareness_dropped_total',
      help: 'Awareness entries dropped: echoes and forgeries of ids other connections own, the server id, removals of unknown ids',
      labelNames: ['reason'],
      registers,
    })
    for (const reason of PRESENCE_DROPS) this.awarenessDrops.inc({ reason }, 0)
    this.earlyUpdates = new Counter({
      name: 'quire_early_updates_dropped_total',
      help: "Updates a client sent before its SyncStep2 that build on offline edits only that SyncStep2 carries; dropped, it brings them",
      registers,
    })
    const flush = () => this.flushTraffic()
    const byType = (name: string, help: string) => new Counter({ name, help, labelNames: ['type'] as const, registers, collect: flush })
    this.messagesIn = byType('quire_messages_received_total', 'Client frames received, by message type ("invalid" when undecodable)')
    this.messagesOut = byType('quire_messages_sent_total', 'Frames sent to clients, by message type, counted per connection')
    this.bytesIn = byType('quire_received_bytes_total', 'Bytes of client frames received, by message type')
    this.bytesOut = byType('quire_sent_bytes_total', 'Bytes of frames sent to clients, by message type')
    this.applySeconds = new Histogram({
      name: 'quire_update_apply_seconds',
      help: 'Time to apply one client update to its document',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    })
    this.writeSeconds = new Histogram({
      name: 'quire_storage_write_seconds',
      help: 'Time from appending an update to its durable commit (group commit included)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    })
    this.appendedBytes = new Counter({
      name: 'quire_storage_appended_bytes_total',
      help: 'Bytes of updates appended to storage and committed',
      registers,
    })
    this.storageErrors = new Counter({
      name: 'quire_storage_errors_total',
      help: 'Failed storage operations, by operation',
      labelNames: ['operation'],
      registers,
    })
    this.compactions = new Counter({ name: 'quire_compactions_total', help: 'Compactions completed (a run with nothing new to fold counts too)', registers })
    this.limitRejections = new Counter({
      name: 'quire_limit_rejections_total',
      help: 'Connections, messages and requests refused by a protective limit, by limit',
      labelNames: ['limit'],
      registers,
    })
    for (const limit of LIMIT_NAMES) this.limitRejections.inc({ limit }, 0) // every series exists from the start
  }

  /** Prometheus text: this server's metrics plus the process-wide default metrics. */
  async text(): Promise<string> {
    return Registry.merge([processMetrics(), this.registry]).metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** Server-wide sums for the admin dashboard. */
  async totals(): Promise<MetricsTotals> {
    const sum = async (metric: Counter<string> | Gauge) => (await metric.get()).values.reduce((total, v) => total + v.value, 0)
    return {
      connections: await sum(this.connections),
      messagesIn: await sum(this.messagesIn),
      messagesOut: await sum(this.messagesOut),
      bytesIn: await sum(this.bytesIn),
      bytesOut: await sum(this.bytesOut),
    }
  }

  connectionOpened(protocol: WireProtocol = 'y-websocket'): void {
    this.connections.inc()
    this.connectionsOpened.inc({ protocol })
  }

  peers(protocol: WireProtocol, delta: 1 | -1): void {
    this.peerGauge.inc({ protocol }, delta)
  }

  connectionError(code: CloseErrorCode): void {
    this.errors.inc({ code })
  }

  earlyUpdateDropped(): void {
    this.earlyUpdates.inc()
  }

  awarenessDropped(reason: PresenceDrop, count: number): void {
    this.awarenessDrops.inc({ reason }, count)
  }

  connectionClosed(code: number): void {
    this.connections.dec()
    this.closes.inc({ code: closeCodeLabel(code) })
  }

  received(type: string, bytes: number): void {
    tally(this.trafficIn, type, bytes)
  }

  sent(frame: Uint8Array): void {
    tally(this.trafficOut, frameType(frame), frame.byteLength)
  }

  /** Adds the tallies to the counters and zeroes them; any of the four counters' collect calls it. */
  private flushTraffic(): void {
    const add = (tallies: Map<string, Tally>, messages: Counter<'type'>, bytes: Counter<'type'>) => {
      for (const [type, t] of tallies) {
        if (t.messages === 0) continue
        messages.inc({ type }, t.messages)
        bytes.inc({ type }, t.bytes)
        t.messages = 0
        t.bytes = 0
      }
    }
    add(this.trafficIn, this.messagesIn, this.bytesIn)
    add(this.trafficOut, this.messagesOut, this.bytesOut)
  }

  updateApplied(seconds: number): void {
    this.applySeconds.observe(seconds)
  }

  storageWrite(seconds: number, bytes: number): void {
    this.writeSeconds.observe(seconds)
    this.appendedBytes.inc(bytes)
  }

  storageError(operation: 'load' | 'append' | 'compact'): void {
    this.storageErrors.inc({ operation })
  }

  compaction(): void {
    this.compactions.inc()
  }

  limitRejected(limit: LimitName): void {
    this.limitRejections.inc({ limit })
  }
}
