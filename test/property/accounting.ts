/**
 * One server life's bookkeeping, and the equalities between what is stored (REST `updates`,
 * `bytes`), what the metrics count, what a monitor client was relayed, and the size quota's
 * running estimate (REST `quotaBytes`, src/limits/doc-size.ts).
 *
 * Compactions run in the background and change `bytes` (and reset the quota estimate) when
 * they happen, so every size equality here is asserted only where no compaction can have
 * interfered: the settings make one impossible (fewer stored updates than COMPACT_AFTER_UPDATES;
 * COMPACT_AFTER_BYTES is out of reach, see world.ts), quire_compactions_total has not moved
 * (read after the sizes: a compaction changes `bytes` and that counter in one event-loop turn),
 * or the room was just loaded, or it unloaded and storage is quiet. Counts that compaction does
 * not touch (updates, appends) are asserted always. All are read at quiet points (every client
 * synced, nothing more sent) and polled only to let the last commits land.
 */
import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import { canonical, contentOfState, type Content } from './content.js'
import { recordingProvider, synced } from './clients.js'
import { poll, type DocInfoJson, type QuireServer } from './server.js'
import type { WebsocketProvider } from 'y-websocket'

/** A provider that never edits, in its room for a whole server life: it is relayed every append. */
interface Monitor {
  doc: Y.Doc
  provider: WebsocketProvider
  /** Update frames relayed to it: one per append, or one for several appends committed together. */
  updates: number
  closedUnexpectedly: string | null
}

type Equality = [what: string, actual: number | undefined, expected: number]

/** Polls until every equality `read` returns holds (and returns them); fails with the last ones that did not. */
async function allEqual(read: () => Promise<Equality[]>, context: string): Promise<Equality[]> {
  let failing: Equality[] = []
  return poll(
    async () => {
      const all = await read()
      failing = all.filter(([, actual, expected]) => actual !== expected)
      return failing.length === 0 ? all : null
    },
    () => `${context}: ${failing.map(([what, actual, expected]) => `${what} is ${actual}, expected ${expected}`).join('; ')}`,
  )
}

/** Read while a fresh reader is the room's only peer: loaded just now, nothing applied since. */
export function checkQuotaAtLoad(name: string, info: DocInfoJson | null, when: string): void {
  if (!info?.loaded || info.quotaBytes !== info.bytes) {
    throw new Error(`${name} ${when}: loaded with quotaBytes ${info?.quotaBytes} ≠ stored bytes ${info?.bytes} (${canonical(info)})`)
  }
}

/** Once the room unloaded and storage is quiet, the stored size is that of the compacted state it serves. */
function checkCompacted(name: string, info: DocInfoJson | null, state: Uint8Array, when: string): void {
  if ((info?.bytes ?? 0) !== state.byteLength && (info || state.byteLength > 2)) {
    throw new Error(`${name} ${when}: stored bytes ${info?.bytes ?? 0} ≠ ${state.byteLength}, the size of the compacted state it serves`)
  }
}

export interface LifeSettings {
  compactAfterUpdates: number
  monitor: boolean
}

export class Life {
  readonly monitors = new Map<string, Monitor>()

  private constructor(
    readonly server: QuireServer,
    private readonly docNames: string[],
    private readonly settings: LifeSettings,
    /** Per document, REST `updates` and `bytes` when the life's clients arrived. */
    readonly seq0: Map<string, number>,
    private readonly bytes0: Map<string, number>,
    private readonly compactions0: number,
  ) {}

  /**
   * After the durability readers left: waits until their rooms unloaded (and compacted), checks
   * the stored sizes, notes what storage holds, and connects the monitors (if the scenario has
   * them) before any client, so that they are relayed every append of this life.
   */
  static async begin(
    server: QuireServer,
    docNames: string[],
    settings: LifeSettings,
    record: (name: string) => (type: number, update: Uint8Array) => void,
  ): Promise<Life> {
    const seq0 = new Map<string, number>()
    const bytes0 = new Map<string, number>()
    for (const name of docNames) {
      const info = await server.settledInfo(name)
      checkCompacted(name, info, await server.state(name), `at the start of server life ${server.life}`)
      seq0.set(name, info?.updates ?? 0)
      bytes0.set(name, info?.bytes ?? 0)
    }
    const life = new Life(server, docNames, settings, seq0, bytes0, (await server.metrics()).get('quire_compactions_total'))
    if (settings.monitor) {
      for (const name of docNames) {
        const doc = new Y.Doc()
        const recordEcho = record(name)
        const m: Monitor = { doc, provider: null!, updates: 0, closedUnexpectedly: null }
        m.provider = recordingProvider(server.url, name, doc, (type, update) => {
          recordEcho(type, update)
          if (type === syncProtocol.messageYjsUpdate) m.updates++
        })
        m.provider.on('connection-close', (event) => {
          m.closedUnexpectedly ??= `monitor of ${name} disconnected (code ${(event as { code?: number } | null)?.code ?? 'local'})`
        })
        m.provider.connect()
        life.monitors.set(name, m)
      }
      for (const [name, m] of life.monitors) await synced(m.provider, `the monitor of ${name}`)
    }
    return life
  }

  /** Stored update counts a restart must keep at least: one per frame a monitor was relayed (a frame may hold several). */
  relayedUpdates(): Map<string, number> {
    return new Map([...this.monitors].map(([name, m]) => [name, this.seq0.get(name)! + m.updates]))
  }

  /** Disconnects the monitors (before the server goes away or the rooms are to unload). */
  end(): void {
    for (const m of this.monitors.values()) {
      m.provider.destroy()
      m.doc.destroy()
    }
    this.monitors.clear()
  }

  /**
   * At a quiet point (after a settle, or after convergence), with `online` clients per document
   * connected and synced: appends, stored sizes, relayed updates, quota estimates, loaded rooms
   * and connection counts agree. Returns what it checked, for FC_VERBOSE.
   */
  async checkAccounting(online: Map<string, number>): Promise<string> {
    for (const m of this.monitors.values()) if (m.closedUnexpectedly) throw new Error(m.closedUnexpectedly)
    const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0)
    const checked = await allEqual(async () => {
      const infos = new Map<string, DocInfoJson | null>()
      for (const name of this.docNames) infos.set(name, await this.server.info(name))
      const metrics = await this.server.metrics() // after the sizes: see the header
      const compacted = metrics.get('quire_compactions_total') > this.compactions0
      const grown = (name: string, field: 'updates' | 'bytes') => (infos.get(name)?.[field] ?? 0) - (field === 'updates' ? this.seq0 : this.bytes0).get(name)!
      const appends = metrics.get('quire_storage_write_seconds_count')
      const appendedBytes = metrics.get('quire_storage_appended_bytes_total')
      const connections = (name: string) => online.get(name)! + (this.monitors.has(name) ? 1 : 0)
      const equalities: Equality[] = [
        // Every committed append is one stored update and one observation of the write histogram.
        ['stored updates added in this life', sum(this.docNames.map((n) => grown(n, 'updates'))), appends],
        ['quire_rooms_loaded', metrics.get('quire_rooms_loaded'), this.docNames.filter((n) => connections(n) > 0).length],
        ['quire_connections', metrics.get('quire_connections'), sum(this.docNames.map(connections))],
      ]
      // …and its bytes are stored bytes, until a compaction replaces the log with a state.
      if (!compacted) equalities.push(['stored bytes added in this life', sum(this.docNames.map((n) => grown(n, 'bytes'))), appendedBytes])
      if (this.monitors.size > 0) {
        // A monitor is relayed each append after its commit, compaction or not; appends committed
        // together arrive merged in one frame (Room.relay), so frames ≤ appends, and never 0 for some.
        const frames = sum([...this.monitors.values()].map((m) => m.updates))
        equalities.push(['update frames relayed to the monitors, at most the appends', Math.min(frames, appends), frames])
        equalities.push(['some update relayed to the monitors if something was appended', Math.min(frames, 1), Math.min(appends, 1)])
      }
      for (const name of this.docNames) {
        const info = infos.get(name)
        const m = this.monitors.get(name)
        equalities.push([`${name}: connections`, info?.connections ?? 0, connections(name)])
        // A room without peers unloads (and has no quota estimate then).
        equalities.push([`${name}: loaded`, info?.loaded ? 1 : 0, connections(name) > 0 ? 1 : 0])
        if (m) {
          // Each relayed frame holds at least one stored update (several when merged).
          equalities.push([`${name}: stored updates added, at least the frames relayed`, Math.max(grown(name, 'updates'), m.updates), grown(name, 'updates')])
        }
        // The quota estimate is the stored size at load plus every update applied since, i.e. the
        // stored size until a compaction resets it (src/limits/doc-size.ts).
        if (connections(name) > 0 && (!compacted || (info?.updates ?? 0) < this.settings.compactAfterUpdates)) {
          equalities.push([`${name}: quotaBytes (stored bytes ${info?.bytes})`, info?.quotaBytes, info?.bytes ?? 0])
        }
      }
      return equalities
    }, `server life ${this.server.life}, quiet, online clients ${canonical(Object.fromEntries(online))} (${canonical(this.settings)})`)
    await this.checkNoRefusals()
    const dropped = (await this.server.metrics()).get('quire_early_updates_dropped_total')
    return `${checked.map(([what]) => what.replace(/ \(.*\)$/, '')).join(', ')}; early updates dropped: ${dropped}`
  }

  /** quire_connection_errors_total: the server refused nothing in this life (shutting down aside). */
  async checkNoRefusals(): Promise<void> {
    const refused = [...(await this.server.metrics()).labelled('quire_connection_errors_total')].filter(
      ([labels, count]) => count > 0 && labels !== '{code="QUIRE_SHUTTING_DOWN"}',
    )
    if (refused.length > 0) throw new Error(`server life ${this.server.life} closed connections with errors: ${refused.map(([l, n]) => `${l} ${n}`).join(', ')}`)
  }

  /**
   * Every client and monitor has left: each room unloads, compacting its log into one state.
   * Then the stored size is that state's size, and the stored content and update count are
   * what they were. (world.ts then reloads each room and checks the quota estimate at load.)
   */
  async checkUnloaded(expected: Map<string, Content>, updatesBefore: Map<string, number>): Promise<void> {
    for (const name of this.docNames) {
      const info = await this.server.settledInfo(name)
      const state = await this.server.state(name)
      const content = contentOfState(state)
      const problems: string[] = []
      if (canonical(content) !== canonical(expected.get(name))) problems.push(`stored content ${canonical(content)} ≠ converged ${canonical(expected.get(name))}`)
      if ((info?.updates ?? 0) !== updatesBefore.get(name)) problems.push(`updates ${updatesBefore.get(name)} before unloading, ${info?.updates ?? 0} after`)
      if (problems.length > 0) throw new Error(`${name} after every client left: ${problems.join('; ')}`)
      checkCompacted(name, info, state, 'after every client left')
    }
    const loaded = (await this.server.metrics()).get('quire_rooms_loaded')
    if (loaded !== 0) throw new Error(`quire_rooms_loaded is ${loaded} after every room unloaded`)
  }
}
