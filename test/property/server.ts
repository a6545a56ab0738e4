/**
 * One `quire serve` process (dist/cli.js, via ../child-server.ts) and what the checks read from
 * it over HTTP: document info, served states, Prometheus series. Knows nothing of clients or of
 * the properties, so that world.ts reads as the scenario and accounting.ts as the equalities.
 */
import * as Y from 'yjs'
import { startChild, type ChildServer, type Exit } from '../child-server.js'

/** `GET /api/docs/:name` (src/http/documents.ts). */
export interface DocInfoJson {
  name: string
  updates: number
  bytes: number
  loaded: boolean
  connections: number
  /** Only while loaded: the size quota's running estimate (src/limits/doc-size.ts). */
  quotaBytes?: number
}

/** Polls `probe` until it returns non-null; past the deadline fails with `describe()`. */
export async function poll<T>(probe: () => Promise<T | null>, describe: () => Promise<string> | string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const result = await probe()
    if (result !== null) return result
    if (Date.now() > deadline) throw new Error(await describe())
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Prometheus text, one number per series; labelled series keep their labels (`name{code="X"}`). */
export class Metrics {
  constructor(private readonly series: Map<string, number>) {}

  get(name: string): number {
    return this.series.get(name) ?? 0
  }

  /** Every series of `name` by its labels, e.g. `{code="QUIRE_INTERNAL"}` → 2. */
  labelled(name: string): Map<string, number> {
    return new Map([...this.series].filter(([key]) => key.startsWith(name + '{')).map(([key, value]) => [key.slice(name.length), value]))
  }
}

export class QuireServer {
  private constructor(
    private readonly child: ChildServer,
    /** 1 for the run's first process, then one more per restart. */
    readonly life: number,
  ) {}

  static async start(dataDir: string, env: Record<string, string>, life: number): Promise<QuireServer> {
    return new QuireServer(await startChild({ dataDir, env }), life)
  }

  /** Base WebSocket URL, ws://host:port (providers append /room). */
  get url(): string {
    return this.child.url
  }

  get alive(): boolean {
    return this.child.child.exitCode === null && this.child.child.signalCode === null && !this.child.child.killed
  }

  /** Sends `signal` (if still running) and resolves with how the process exited. */
  kill(signal: NodeJS.Signals): Promise<Exit> {
    return this.child.kill(signal)
  }

  /** SIGKILL without waiting: for use inside a client's message handler (world.ts, crashAtNextEcho). */
  killNow(): void {
    this.child.child.kill('SIGKILL')
  }

  /** Warnings, errors and non-JSON output so far, for failure messages. */
  notableLog(): string[] {
    return (this.child.stdout + this.child.stderr)
      .split('\n')
      .filter((line) => line && !/"level":(10|20|30),|AUTHENTICATION IS OFF|web pages are not built/.test(line))
      .map((line) => line.slice(0, 400))
  }

  // --- HTTP --------------------------------------------------------------------------------

  private async get(path: string): Promise<Response> {
    return fetch(`http://${this.child.host}:${this.child.port}${path}`)
  }

  /** The document's state as the server serves it (waits for loads/unloads in progress); empty if unknown. */
  async state(name: string): Promise<Uint8Array> {
    const response = await this.get(`/api/docs/${encodeURIComponent(name)}/update`)
    if (response.status === 404) {
      await response.body?.cancel()
      return Y.encodeStateAsUpdate(new Y.Doc())
    }
    if (response.status !== 200) throw new Error(`GET ${name}/update answered ${response.status}: ${await response.text()}`)
    return new Uint8Array(await response.arrayBuffer())
  }

  /** Document info; null if nothing is stored and the room is not loaded (404). */
  async info(name: string): Promise<DocInfoJson | null> {
    const response = await this.get(`/api/docs/${encodeURIComponent(name)}`)
    if (response.status === 404) {
      await response.body?.cancel()
      return null
    }
    if (response.status !== 200) throw new Error(`GET ${name} answered ${response.status}: ${await response.text()}`)
    return (await response.json()) as DocInfoJson
  }

  /**
   * Document info once its room is unloaded and storage is quiet: the unload's compaction has
   * committed (a storage read waits for the unload in progress, and the compaction counter moves
   * before that unload completes).
   */
  async settledInfo(name: string): Promise<DocInfoJson | null> {
    await poll(async () => ((await this.info(name))?.loaded ? null : true), () => `${name}: the room never unloaded`)
    await this.state(name)
    return this.info(name)
  }

  async listDocs(): Promise<Map<string, DocInfoJson>> {
    const response = await this.get('/api/docs?limit=1000')
    if (response.status !== 200) throw new Error(`GET /api/docs answered ${response.status}: ${await response.text()}`)
    const { docs } = (await response.json()) as { docs: DocInfoJson[] }
    return new Map(docs.map((d) => [d.name, d]))
  }

  /** One read of /metrics: series read together are consistent with each other. */
  async metrics(): Promise<Metrics> {
    const text = await (await this.get('/metrics')).text()
    const series = new Map<string, number>()
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue
      const space = line.lastIndexOf(' ')
      series.set(line.slice(0, space), Number(line.slice(space + 1)))
    }
    return new Metrics(series)
  }
}
