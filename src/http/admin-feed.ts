/**
 * The admin dashboard's data: a snapshot of the loaded rooms and the server totals, pushed to
 * every open dashboard by Server-Sent Events. One snapshot per tick is shared by all dashboards,
 * and the timer runs only while at least one is open.
 */
import type { ServerResponse } from 'node:http'
import type { FastifyInstance, RouteShorthandOptions } from 'fastify'
import type { RoomRegistry } from '../room/registry.js'
import type { DocStore } from '../storage/doc-store.js'
import type { MetricsTotals, QuireMetrics } from '../metrics/metrics.js'

export interface RoomRow {
  name: string
  connections: number
  /** Bytes stored: compacted state plus log. 0 until the first change is stored. */
  bytes: number
  updatesPerSecond: number
  /** Epoch ms of the last stored change, null for a document never changed. */
  lastChange: number | null
}

export interface AdminSnapshot {
  at: number
  uptimeSeconds: number
  rssBytes: number
  totals: MetricsTotals & { rooms: number; updatesPerSecond: number }
  /** Busiest rooms first, at most `MAX_ROWS`. */
  rooms: RoomRow[]
}

/** A dashboard stays readable, and an SSE message small, with thousands of rooms loaded. */
const MAX_ROWS = 200

export class AdminFeed {
  /** Sequence number of each room at the previous snapshot, for updates per second. */
  private previous = new Map<string, { seq: number; at: number }>()

  constructor(
    private readonly registry: RoomRegistry,
    private readonly store: DocStore,
    private readonly metrics: QuireMetrics,
  ) {}

  async snapshot(): Promise<AdminSnapshot> {
    const at = Date.now()
    const next = new Map<string, { seq: number; at: number }>()
    const rows = await Promise.all(
      this.registry.names().map(async (name): Promise<RoomRow> => {
        // Loaded documents have their meta cached by the store, so this reads no disk.
        const info = await this.store.info(name).catch(() => null)
        const seq = info?.seq ?? 0
        const before = this.previous.get(name)
        next.set(name, { seq, at })
        const seconds = before ? (at - before.at) / 1000 : 0
        return {
          name,
          connections: this.registry.connections(name), // REST holds are peers, not connections
          bytes: info?.bytes ?? 0,
          updatesPerSecond: before && seconds > 0 ? Math.max(0, seq - before.seq) / seconds : 0,
          lastChange: info ? info.updatedAt : null,
        }
      }),
    )
    this.previous = next
    rows.sort((a, b) => b.connections - a.connections || (b.lastChange ?? 0) - (a.lastChange ?? 0) || a.name.localeCompare(b.name))
    return {
      at,
      uptimeSeconds: Math.round(process.uptime()),
      rssBytes: process.memoryUsage.rss(),
      totals: {
        ...(await this.metrics.totals()),
        rooms: rows.length,
        updatesPerSecond: rows.reduce((sum, row) => sum + row.updatesPerSecond, 0),
      },
      rooms: rows.slice(0, MAX_ROWS),
    }
  }
}

/** Registers `GET <path>` as an SSE stream of snapshots every `intervalMs`. */
export function serveAdminEvents(app: FastifyInstance, path: string, feed: AdminFeed, intervalMs: number, routeOptions: RouteShorthandOptions = {}): void {
  const clients = new Set<ServerResponse>()
  let timer: NodeJS.Timeout | undefined
  let ticking = false

  const send = (res: ServerResponse, snapshot: AdminSnapshot) => res.write(`data: ${JSON.stringify(snapshot)}\n\n`)
  const tick = async () => {
    if (ticking) return // a slow snapshot must not pile up behind itself
    ticking = true
    try {
      const snapshot = await feed.snapshot()
      for (const res of clients) send(res, snapshot)
    } catch (error) {
      app.log.warn({ err: error }, 'admin snapshot failed')
    } finally {
      ticking = false
    }
  }

  app.get(path, routeOptions, (request, reply) => {
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no', // nginx would otherwise buffer the stream
    })
    res.write('retry: 2000\n\n')
    clients.add(res)
    request.raw.on('close', () => {
      clients.delete(res)
      if (clients.size === 0 && timer) {
        clearInterval(timer)
        timer = undefined
      }
    })
    // The new dashboard gets data at once rather than after a full interval.
    feed.snapshot().then((snapshot) => clients.has(res) && send(res, snapshot), () => {})
    timer ??= setInterval(() => void tick(), intervalMs)
  })

  // An open event stream would keep server.close() waiting forever.
  app.addHook('preClose', async () => {
    clearInterval(timer)
    timer = undefined
    for (const res of clients) res.end()
    clients.clear()
  })
}
