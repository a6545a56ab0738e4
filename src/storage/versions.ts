/**
 * Named versions of a document, kept in LevelDB next to it:
 *
 *   versions        name \0 id(hex) → { label, createdAt, bytes } (JSON)
 *   version-states  name \0 id(hex) → the full state (Yjs v1 update)
 *
 * A version holds the full encoded state, not a Yjs snapshot: documents are stored with gc on,
 * so an old state cannot be rebuilt from later data. Records and states live apart so that
 * listing reads only the small records. Ids count up per document from 1; versions are removed
 * only with their document, so an id always means the same content.
 */
import type { Level } from 'level'
import type { StoredVersion, VersionInfo, VersionStore } from './doc-store.js'
import type { BatchOp, Bytes, Sub } from './level-layout.js'

interface VersionRecord {
  label: string
  createdAt: number
  bytes: number
}

const ID_WIDTH = 13 // hex digits, as for log sequence numbers
const versionKey = (name: string, id: number) => `${name}\u0000${id.toString(16).padStart(ID_WIDTH, '0')}`
const rangeOf = (name: string) => ({ gt: `${name}\u0000`, lt: `${name}\u0001` })
const idOfKey = (key: string) => parseInt(key.slice(key.length - ID_WIDTH), 16)

export class LevelVersions implements VersionStore {
  private readonly records: Sub<VersionRecord>
  private readonly states: Sub<Bytes>
  private readonly queues = new Map<string, Promise<unknown>>()

  /**
   * @param write commits operations atomically, in order with the document's other writes.
   * @param exists whether the document is stored; versions of unknown documents are refused.
   */
  constructor(
    db: Level<string, Bytes>,
    private readonly write: (ops: BatchOp[]) => Promise<void>,
    private readonly exists: (name: string) => Promise<boolean>,
  ) {
    this.records = db.sublevel('versions', { valueEncoding: 'json' }) as Sub<VersionRecord>
    this.states = db.sublevel('version-states', { valueEncoding: 'view' }) as Sub<Bytes>
  }

  create(name: string, label: string, state: Uint8Array): Promise<VersionInfo | null> {
    return this.exclusive(name, async () => {
      if (!(await this.exists(name))) return null
      let last = 0
      for await (const key of this.records.keys({ ...rangeOf(name), reverse: true, limit: 1 })) last = idOfKey(key)
      const record: VersionRecord = { label, createdAt: Date.now(), bytes: state.byteLength }
      const key = versionKey(name, last + 1)
      await this.write([
        { type: 'put', sublevel: this.records, key, value: record },
        { type: 'put', sublevel: this.states, key, value: state },
      ])
      return { id: last + 1, ...record }
    })
  }

  async list(name: string): Promise<VersionInfo[]> {
    const versions: VersionInfo[] = []
    for await (const [key, record] of this.records.iterator(rangeOf(name))) {
      versions.push({ id: idOfKey(key), ...(record as unknown as VersionRecord) })
    }
    return versions
  }

  async read(name: string, id: number): Promise<StoredVersion | null> {
    const key = versionKey(name, id)
    const record = (await this.records.get(key)) as unknown as VersionRecord | undefined
    const state = record && ((await this.states.get(key)) as Uint8Array | undefined)
    return record && state ? { info: { id, ...record }, state } : null
  }

  /** Operations deleting every version of `name`. Call inside `exclusive(name)` so none is added meanwhile. */
  async deleteAllOps(name: string): Promise<BatchOp[]> {
    const ops: BatchOp[] = []
    for await (const key of this.records.keys(rangeOf(name))) {
      ops.push({ type: 'del', sublevel: this.records, key }, { type: 'del', sublevel: this.states, key })
    }
    return ops
  }

  /** Runs `task` after every earlier exclusive task of the same document has settled. */
  exclusive<T>(name: string, task: () => Promise<T>): Promise<T> {
    const next = (this.queues.get(name) ?? Promise.resolve()).then(task)
    const settled = next.catch(() => {})
    this.queues.set(name, settled)
    void settled.then(() => {
      if (this.queues.get(name) === settled) this.queues.delete(name)
    })
    return next
  }
}
