/**
 * The world a property run drives: one `quire serve` process at a time over one data dir
 * (server.ts), real providers on one or two documents (clients.ts) with a record of every
 * document payload the server sent to any of them. The server relays and answers only what is
 * committed, so everything in that record must be served again after any restart, SIGKILL included.
 *
 * This module holds the server's lives (start, restart by SIGTERM or SIGKILL, crash at the next
 * echo, stop) and the checks that need the whole world: durability when a life begins, settling,
 * convergence at the end. Client verbs are in clients.ts, size and metric equalities in accounting.ts.
 */
import { rm } from 'node:fs/promises'
import * as Y from 'yjs'
import type { WebsocketProvider } from 'y-websocket'
import type { Exit } from '../child-server.js'
import { Life, checkQuotaAtLoad } from './accounting.js'
import { Clients, NO_SERVER, recordingProvider, synced } from './clients.js'
import { canonical, contentOf, docFrom, missingFrom, stateVector, type Content } from './content.js'
import { QuireServer, poll, type DocInfoJson } from './server.js'

export interface WorldOptions {
  dataDir: string
  /** Document name of each client. */
  placement: string[]
  /** Monitors in every room for each whole server life (accounting.ts). */
  monitor: boolean
  compactAfterUpdates: number
}

export class World {
  readonly clients: Clients
  readonly docNames: string[]
  private server: QuireServer | null = null
  private life: Life | null = null
  /** Server processes started so far, and the time spent waiting for them to listen (most of a run). */
  lives = 0
  startingMs = 0
  private readonly logs: string[] = []
  /** Fresh readers connected right now (freed by dispose if a check throws). */
  private readonly readers = new Set<WebsocketProvider>()

  constructor(private readonly options: WorldOptions) {
    this.docNames = [...new Set(options.placement)].sort()
    this.clients = new Clients(options.placement)
  }

  /**
   * The server's settings. Limits a scenario could reach with well-behaved clients are off (a
   * burst of typing passes --messages-per-second; refusing it would be right, and a failure
   * here); compaction by size is out of reach, so that only COMPACT_AFTER_UPDATES starts one
   * (the size equalities in accounting.ts rely on it).
   */
  private get env(): Record<string, string> {
    return {
      COMPACT_AFTER_UPDATES: String(this.options.compactAfterUpdates),
      COMPACT_AFTER_BYTES: String(2 ** 30),
      MESSAGES_PER_SECOND: '0',
      REST_RATE_LIMIT: '0',
    }
  }

  // --- server lives ------------------------------------------------------------------------

  async start(): Promise<void> {
    await this.startLife('start')
  }

  /**
   * SIGKILL the server inside the handler of the next document payload any client receives, the
   * tightest point to lose something already echoed; or, when nothing more arrives (every online
   * client settled), right then. Then restart like `restart('SIGKILL')`.
   */
  async crashAtNextEcho(): Promise<void> {
    const server = this.server!
    let fired = false
    const echo = new Promise<void>((resolve) => {
      this.clients.onEcho = () => {
        if (fired) return
        fired = true
        this.clients.closes.stopped(server.url)
        server.killNow()
        resolve()
      }
    })
    const quiet = this.settle(() => fired).catch((error: unknown) => {
      if (!fired) throw error
    })
    try {
      await Promise.race([echo, quiet])
    } finally {
      this.clients.onEcho = null
    }
    await this.restart('SIGKILL')
  }

  /** Stops the server (SIGTERM: graceful, SIGKILL: crash), starts another on the same data dir, checks durability. */
  async restart(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const server = this.server!
    const life = this.life!
    // Before the old server goes: nobody may reach the next one before the durability check.
    this.clients.pointAt(NO_SERVER)
    const before = server.alive ? await server.listDocs() : new Map<string, DocInfoJson>()
    if (server.alive) await life.checkNoRefusals()
    const relayed = life.relayedUpdates()
    this.clients.closes.stopped(server.url)
    this.endLife()
    const exit = await this.stopServer(signal)
    const expected: Exit = signal === 'SIGKILL' ? { code: null, signal: 'SIGKILL' } : { code: 0, signal: null }
    if (exit.code !== expected.code || exit.signal !== expected.signal) {
      throw new Error(`${signal}: the server exited with ${JSON.stringify(exit)}, expected ${JSON.stringify(expected)}`)
    }
    await this.startLife(signal)
    // Stored update counts: a graceful stop keeps every update it had accepted, a crash at least those relayed.
    for (const name of this.docNames) {
      const after = this.life!.seq0.get(name)!
      if (signal === 'SIGTERM' && after < (before.get(name)?.updates ?? 0)) {
        throw new Error(`${name}: ${before.get(name)!.updates} updates stored before SIGTERM, ${after} after the restart`)
      }
      const relayedCount = relayed.get(name)
      if (relayedCount !== undefined && after < relayedCount) {
        throw new Error(`${name}: the monitor was relayed ${relayedCount} stored updates before ${signal}, ${after} stored after the restart`)
      }
    }
  }

  private async startLife(cause: string): Promise<void> {
    this.lives++
    const starting = Date.now()
    this.server = await QuireServer.start(this.options.dataDir, this.env, this.lives)
    this.startingMs += Date.now() - starting
    // 1. Durability: a fresh client must get everything any client was ever sent; and the room
    //    it loads starts with the quota estimate at the stored size.
    for (const name of this.docNames) {
      const fresh = await this.freshState(name)
      const missing = missingFrom(fresh.state, this.clients.echoed.get(name)!)
      if (missing) throw new Error(`${name} after ${cause} (server life ${this.lives}): ${missing}`)
      checkQuotaAtLoad(name, fresh.info, `after ${cause} (server life ${this.lives})`)
    }
    // 2. The readers' rooms unload; storage quiet, monitors in: see Life.begin.
    const settings = { compactAfterUpdates: this.options.compactAfterUpdates, monitor: this.options.monitor }
    this.life = await Life.begin(this.server, this.docNames, settings, (name) => this.clients.recorder(name))
    // 3. Clients back to the new server; the next action runs once the online ones are synced.
    this.clients.pointAt(this.server.url)
    await this.clients.syncOnline()
  }

  private endLife(): void {
    this.life?.end()
    this.life = null
  }

  /** Sends `signal`, waits for the exit, keeps the process's warnings for failure messages. */
  private async stopServer(signal: NodeJS.Signals): Promise<Exit> {
    const server = this.server!
    this.server = null
    const exit = await server.kill(signal)
    this.keepLog(server)
    return exit
  }

  private keepLog(server: QuireServer): void {
    const notable = server.notableLog()
    if (notable.length > 0) this.logs.push(`server life ${server.life}:`, ...notable.map((l) => '  ' + l))
  }

  /** Warnings, errors and non-JSON output of every server life so far. */
  serverLog(): string {
    if (this.server) this.keepLog(this.server)
    return this.logs.join('\n')
  }

  // --- settling and whole-world checks ---------------------------------------------------

  /** Every online client is synced and the server holds (durably) everything each of them has. */
  async settle(abandoned: () => boolean = () => false): Promise<void> {
    const online = this.clients.list.filter((c) => c.online)
    for (const c of online) await synced(c.provider, `client c${c.id}`)
    const server = this.server!
    for (const c of online) {
      const missing = async () => missingFrom(await server.state(c.name), [Y.encodeStateAsUpdate(c.doc)])
      await poll(
        async () => (abandoned() || (await missing()) === null ? true : null),
        async () => `settle: the server never received everything of client c${c.id}: ${await missing()}`,
      )
    }
  }

  /** Connects everyone, waits until all replicas and the server agree, and returns each document's content. */
  async converge(): Promise<Map<string, Content>> {
    for (const c of this.clients.list) c.online = true
    await this.clients.syncOnline()
    const result = new Map<string, Content>()
    for (const name of this.docNames) {
      const clients = this.clients.list.filter((c) => c.name === name)
      const views = async () => {
        const server = docFrom(await this.server!.state(name))
        const all = [
          { who: 'server', content: canonical(contentOf(server)), sv: canonical(stateVector(server)) },
          ...clients.map((c) => ({ who: `c${c.id}`, content: canonical(contentOf(c.doc)), sv: canonical(stateVector(c.doc)) })),
        ]
        server.destroy()
        return all
      }
      await poll(
        async () => {
          const all = await views()
          return all.every((v) => v.content === all[0]!.content && v.sv === all[0]!.sv) ? true : null
        },
        async () => `${name}: replicas did not converge:\n${(await views()).map((v) => `  ${v.who}: ${v.content} sv ${v.sv}`).join('\n')}`,
        15_000,
      )
      result.set(name, contentOf(clients[0]!.doc))
    }
    return result
  }

  /** What a fresh client (empty doc) gets at its first sync, and the document's info while it is connected. */
  async freshState(name: string): Promise<{ state: Uint8Array; content: Content; info: DocInfoJson | null }> {
    const server = this.server!
    const doc = new Y.Doc()
    const p = recordingProvider(server.url, name, doc, () => {})
    this.clients.closes.watch(p, `a fresh reader of ${name}`)
    this.readers.add(p)
    try {
      p.connect()
      await synced(p, `a fresh client of ${name}`)
      return { state: Y.encodeStateAsUpdate(doc), content: contentOf(doc), info: await server.info(name) }
    } finally {
      p.destroy()
      doc.destroy()
      this.readers.delete(p)
    }
  }

  /** At a quiet point (after settle or converge): see Life.checkAccounting. */
  async checkAccounting(): Promise<string> {
    const online = new Map(this.docNames.map((n) => [n, this.clients.list.filter((c) => c.name === n && c.online).length]))
    return this.life!.checkAccounting(online)
  }

  /**
   * Everyone leaves; each room unloads and compacts (Life.checkUnloaded). Then a fresh reader
   * loads each room again: the quota estimate starts at the stored (compacted) size.
   */
  async checkUnloaded(expected: Map<string, Content>): Promise<void> {
    const life = this.life!
    const before = await this.server!.listDocs()
    life.end()
    for (const c of this.clients.list) this.clients.disconnect(c)
    await life.checkUnloaded(expected, new Map(this.docNames.map((n) => [n, before.get(n)?.updates ?? 0])))
    for (const name of this.docNames) checkQuotaAtLoad(name, (await this.freshState(name)).info, 'reloaded after every client left')
  }

  /** Graceful stop at the end of a run: nothing refused in the last life, and it must exit 0. */
  async stop(): Promise<void> {
    if (!this.server) return
    await this.life!.checkNoRefusals()
    this.clients.closes.stopped(this.server.url)
    this.endLife()
    const exit = await this.stopServer('SIGTERM')
    if (exit.code !== 0) throw new Error(`SIGTERM at the end: the server exited with ${JSON.stringify(exit)}`)
  }

  /** Frees everything, whatever state the run ended in. */
  async dispose(): Promise<void> {
    this.endLife()
    for (const p of this.readers) p.destroy()
    this.clients.destroy()
    if (this.server) await this.stopServer('SIGKILL')
    await rm(this.options.dataDir, { recursive: true, force: true })
  }
}
