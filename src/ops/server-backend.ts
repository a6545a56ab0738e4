/**
 * The operator commands against a running server, through its REST API: the documents routes
 * for reading, importing and listing, and the admin routes of http/backup-routes.ts for
 * compaction, backup and restore. The server does the work through its rooms, so live clients
 * see restored and imported content as they see any edit.
 */
import type { VersionInfo } from '../storage/doc-store.js'
import { BackupReader, backupStream, endRecord, headerBytes, type BackupDocument } from './backup-format.js'
import type { Backend, Compaction, DocMeta, ImportResult, RestoreProgress } from './backend.js'
import type { RestoreSummary } from './restore-document.js'
import { RestClient } from './rest-client.js'

/** What `GET /api/docs/:name` answers. */
interface DocumentJson {
  name: string
  updates: number
  bytes: number
  logUpdates?: number
  createdAt?: string
  updatedAt?: string
  loaded: boolean
  connections: number
}

type VersionJson = Omit<VersionInfo, 'createdAt'> & { createdAt: string }

export class ServerBackend implements Backend {
  readonly kind = 'server'
  readonly where: string

  private constructor(private readonly client: RestClient) {
    this.where = client.base
  }

  /** Checks first that the server answers, speaks Quire's REST API and accepts the token. */
  static async open(url: string, token: string | undefined, onWait?: (seconds: number) => void): Promise<ServerBackend> {
    const client = new RestClient(url, token, onWait)
    await client.call('GET', '/api/docs?limit=1')
    return new ServerBackend(client)
  }

  async info(name: string): Promise<DocMeta | null> {
    const body = await this.client.json<DocumentJson>(this.client.docPath(name), { missingOk: true })
    if (!body) return null
    return {
      name,
      seq: body.updates,
      bytes: body.bytes,
      ...(body.logUpdates !== undefined && { logUpdates: body.logUpdates }),
      ...(body.createdAt && { createdAt: Date.parse(body.createdAt) }),
      ...(body.updatedAt && { updatedAt: Date.parse(body.updatedAt) }),
      loaded: body.loaded,
      connections: body.connections,
    }
  }

  async content(name: string): Promise<Uint8Array | null> {
    const response = await this.client.call('GET', this.client.docPath(name, '/update'), { missingOk: true })
    return response && new Uint8Array(await response.arrayBuffer())
  }

  async versions(name: string): Promise<VersionInfo[]> {
    const body = await this.client.json<{ versions: VersionJson[] }>(this.client.docPath(name, '/versions'), { missingOk: true })
    return (body?.versions ?? []).map((v) => ({ ...v, createdAt: Date.parse(v.createdAt) }))
  }

  /** `POST /api/docs/:name/update`; whether it changed anything is read from the sequence number. */
  async importUpdate(name: string, update: Uint8Array): Promise<ImportResult> {
    const before = (await this.info(name))?.seq ?? 0
    await this.client.call('POST', this.client.docPath(name, '/update'), { bytes: update })
    const after = (await this.info(name))?.seq ?? 0
    return { created: before === 0 && after > 0, changed: after > before }
  }

  async compact(name: string): Promise<Compaction | null> {
    const response = await this.client.call('POST', this.client.docPath(name, '/compact'), { json: {}, missingOk: true })
    return response && ((await response.json()) as Compaction)
  }

  async *names(): AsyncGenerator<string> {
    let cursor: string | undefined
    do {
      const query = `limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
      const page = (await this.client.json<{ docs: DocumentJson[]; nextCursor?: string }>(`/api/docs?${query}`))!
      for (const doc of page.docs) yield doc.name
      cursor = page.nextCursor
    } while (cursor)
  }

  async count(): Promise<null> {
    return null
  }

  /** `GET /api/backup`, read and checked record by record as it arrives. */
  async *backup(): AsyncGenerator<BackupDocument> {
    const response = (await this.client.call('GET', '/api/backup'))!
    if (!response.body) throw new Error('the server sent an empty backup')
    yield* new BackupReader(response.body).documents()
  }

  /**
   * `POST /api/restore` with the documents as one backup stream, encoded as the server reads it:
   * one request, however many documents. The server answers once it has restored them all, so
   * progress here counts documents sent.
   */
  async restore(documents: AsyncIterable<BackupDocument>, progress: RestoreProgress): Promise<RestoreSummary> {
    // An empty backup first: restores nothing, but a refusal (no admin role, an older server)
    // comes before any document is read or sent.
    await this.client.call('POST', '/api/restore', { bytes: Buffer.concat([headerBytes(), ...endRecord({ documents: 0, versions: 0 })]) })
    let index = 0
    async function* counted(): AsyncGenerator<BackupDocument> {
      for await (const doc of documents) {
        progress({ name: doc.name, index: ++index })
        yield doc
      }
    }
    const response = (await this.client.call('POST', '/api/restore', { bytes: backupStream(counted()) }))!
    return (await response.json()) as RestoreSummary
  }

  async close(): Promise<void> {}
}
