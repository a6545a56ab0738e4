/**
 * The admin dashboard's data: a snapshot of the loaded rooms (with who is connected) and the
 * server totals, pushed to every open dashboard by Server-Sent Events, plus five minutes of
 * samples for its charts (admin-history.ts). One snapshot per tick is shared by all dashboards,
 * and the timer runs only while at least one is open. Streams are capped in number, in unsent
 * bytes and in lifetime (see serveAdminEvents).
 */
import type { ServerResponse } from 'node:http'
import type { FastifyInstance, RouteShorthandOptions } from 'fastify'
import type { RoomRegistry } from '../room/registry.js'
import type { Peer } from '../room/peer.js'
import type { DocStore } from '../storage/doc-store.js'
import type { MetricsTotals, QuireMetrics } from '../metrics/metrics.js'
import { principalOf } from './auth-hooks.js'
import { errorBody } from './errors.js'
import { AdminHistory, type Sample } from './admin-history.js'

/** Connections of one document grouped by who they are. */
export interface PersonRow {
  /** The token's `sub`; null for anonymous connections (authentication off, or a token without `sub`). */
  subject: string | null
  readOnly: boolean
  connections: number
}

export interface RoomRow {
  name: string
  connections: number
  /** Who is connected, most connections first, at most `MAX_PEOPLE` entries (`connections` has the full count). */
  people: PersonRow[]
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
  /** This snapshot's point on the charts. */
  sample: Sample
  /** The last five minutes of samples: only in the first message of a stream, so a new dashboard starts with history. */
  history?: Sample[]
}

/** A dashboard stays readable, and an SSE message small, with thousands of rooms loaded. */
const MAX_ROWS = 200
/** …and with hundreds of people in one document. */
const MAX_PEOPLE = 8

/** Groups a room's peers by subject and access: a hundred anonymous tabs are one line. */
export function peopleOf(peers: readonly Peer[]): PersonRow[] {
  const groups = new Map<string, PersonRow>()
  for (const peer of peers) {
    const subject = peer.subject ?? null
    const readOnly = peer.readOnly !== undefined
    const key = JSON.stringify([subject, readOnly])
    const group = groups.get(key)
    if (group) group.connections++
    else groups.set(key, { subject, readOnly, connections: 1 })
  }
  return [...groups.values()]
    .sort((a, b) => b.connections - a.connections || (a.subject ?? '').localeCompare(b.subject ?? '') || Number(a.readOnly) - Number(b.readOnly))
    .slice(0, MAX_PEOPLE)
}

export class AdminFeed {
  /** Sequence number of each room at the previous snapshot, for updates per second. */
  private previous = new Map<string, { seq: number; at: number }>()
  private readonly samples = new AdminHistory()

  constructor(
    private readonly registry: RoomRegistry,
    private readonly store: DocStore,
    private readonly metrics: QuireMetrics,
  ) {}

  async snapshot(): Promise<AdminSnapshot> {
    const at = Date.now()
    const next = new Map<string, { seq: number; at: number }>()
    const rows = await Promise.all(
      this.registry.names().map(async (name): Promise<Omit<RoomRow, 'people'>> => {
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
    const totals = {
      ...(await this.metrics.totals()),
      rooms: rows.length,
      updatesPerSecond: rows.reduce((sum, row) => sum + row.updatesPerSecond, 0),
    }
    return {
      at,
      uptimeSeconds: Math.round(process.uptime()),
      rssBytes: process.memoryUsage.rss(),
      totals,
      // Who is in a room only for the rows shown: thousands of loaded rooms cost no more than 200.
      rooms: rows.slice(0, MAX_ROWS).map((row) => ({ ...row, people: peopleOf(this.registry.clients(row.name)) })),
      sample: this.samples.record(at, totals),
    }
  }

  /** The last five minutes of samples, for a dashboard that just opened. */
  history(): Sample[] {
    return this.samples.history()
  }

  /** No dashboard is open: stop measuring until the next snapshot. */
  idle(): void {
    this.samples.pause()
  }
}

export interface AdminEventsOptions {
  /** Time between snapshots. */
  intervalMs: number
  /** Streams open at once; one more is answered 503. Default 16. */
  maxStreams?: number
  /** Bytes a stream may have waiting to be sent; a dashboard that stopped reading is dropped past it. Default 1 MiB. */
  maxBufferedBytes?: number
  /** Route options, e.g. the origin and admin-token hooks. */
  routeOptions?: RouteShorthandOptions
}

/** Dashboards are for operators: a handful at a time. Each costs a socket, a share of the timer and up to maxBufferedBytes. */
export const DEFAULT_MAX_ADMIN_STREAMS = 16
/** Several snapshots (the largest, 200 rows with long names, is a few hundred KiB). */
export const DEFAULT_MAX_ADMIN_BUFFERED_BYTES = 1024 * 1024
/** setTimeout's limit; a later expiry re-arms the timer. */
const MAX_TIMER_MS = 2 ** 31 - 1

interface Stream {
  res: ServerResponse
  /** Ends the stream when the token that opened it expires. */
  expiry?: NodeJS.Timeout
}

/** What the stream needs of a feed; `history` and `idle` are optional so a test can feed plain snapshots. */
export type AdminFeedSource = Pick<AdminFeed, 'snapshot'> & Partial<Pick<AdminFeed, 'history' | 'idle'>>

/**
 * Registers `GET <path>` as an SSE stream of snapshots every `intervalMs`. Every stream is bounded:
 * at most `maxStreams` at once, at most `maxBufferedBytes` unsent (a client that stopped reading
 * is cut off rather than buffered for without end; a browser's EventSource reconnects by itself),
 * and none outlives the token it was opened with (`exp` of the admitted principal).
 */
export function serveAdminEvents(app: FastifyInstance, path: string, feed: AdminFeedSource, options: AdminEventsOptions): void {
  const { intervalMs, maxStreams = DEFAULT_MAX_ADMIN_STREAMS, maxBufferedBytes = DEFAULT_MAX_ADMIN_BUFFERED_BYTES } = options
  const streams = new Map<ServerResponse, Stream>()
  let timer: NodeJS.Timeout | undefined
  let ticking = false

  const drop = (res: ServerResponse) => {
    const stream = streams.get(res)
    if (!stream) return
    streams.delete(res)
    clearTimeout(stream.expiry)
    if (streams.size === 0 && timer) {
      clearInterval(timer)
      timer = undefined
      feed.idle?.()
    }
  }
  const send = (res: ServerResponse, text: string) => {
    if (!streams.has(res)) return
    // writableLength is what waits in this process, not yet taken by the kernel: this client's backlog.
    if (res.writableLength > maxBufferedBytes) {
      app.log.warn({ buffered: res.writableLength }, 'admin event stream not reading; dropped')
      drop(res)
      res.destroy()
      return
    }
    res.write(text)
  }
  const event = (snapshot: AdminSnapshot) => `data: ${JSON.stringify(snapshot)}\n\n`
  const tick = async () => {
    if (ticking) return // a slow snapshot must not pile up behind itself
    ticking = true
    try {
      const text = event(await feed.snapshot())
      for (const res of [...streams.keys()]) send(res, text)
    } catch (error) {
      app.log.warn({ err: error }, 'admin snapshot failed')
    } finally {
      ticking = false
    }
  }

  app.get(path, options.routeOptions ?? {}, (request, reply) => {
    if (streams.size >= maxStreams) {
      return reply
        .code(503)
        .header('retry-after', '10')
        .type('application/json; charset=utf-8')
        .send(errorBody(503, `${maxStreams} dashboard streams are open already; close one or try again later`))
    }
    reply.hijack()
    const res = reply.raw
    const stream: Stream = { res }
    streams.set(res, stream)
    // After hijack nobody else listens: an unheard 'error' (a write racing a reset) would crash the
    // process. The socket itself has Node's http server listener, which destroys it.
    res.on('error', (error) => {
      request.log.debug({ err: error }, 'admin event stream error')
      drop(res)
    })
    request.raw.on('error', () => drop(res))
    res.on('close', () => drop(res))
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no', // nginx would otherwise buffer the stream
    })
    res.write('retry: 2000\n\n')
    const exp = principalOf(request).exp
    if (exp !== undefined) armExpiry(stream, exp * 1000, () => {
      request.log.info({}, 'admin token expired; event stream ended')
      drop(res)
      res.end('event: expired\ndata: token expired\n\n')
    })
    // The new dashboard gets data at once rather than after a full interval, with the recent past for its charts.
    feed.snapshot().then((snapshot) => send(res, event(feed.history ? { ...snapshot, history: feed.history() } : snapshot)), () => {})
    timer ??= setInterval(() => void tick(), intervalMs)
  })

  // An open event stream would keep server.close() waiting forever.
  app.addHook('preClose', async () => {
    clearInterval(timer)
    timer = undefined
    feed.idle?.()
    for (const res of [...streams.keys()]) {
      drop(res)
      // A client that does not read would hold the close up until it drained.
      if (res.writableLength > 0) res.destroy()
      else res.end()
    }
  })
}

/** Calls `expire` at `expiresAt` (epoch ms); unref'd, so a waiting stream does not keep the process up. */
function armExpiry(stream: Stream, expiresAt: number, expire: () => void): void {
  const wait = expiresAt - Date.now()
  stream.expiry = setTimeout(wait > MAX_TIMER_MS ? () => armExpiry(stream, expiresAt, expire) : expire, Math.min(Math.max(wait, 0), MAX_TIMER_MS))
  stream.expiry.unref()
}
