/**
 * The change-event outbox (event-outbox.ts) in the store's LevelDB, written through its group
 * commit like everything else:
 *
 *   event-watermarks  name                  → last seq an event was created for (JSON number)
 *   event-outbox      sink \0 key(hex)      → OutboxRecord (JSON)
 *   event-dead        sink \0 key(hex)      → OutboxRecord (JSON)
 *   event-counter     'last'                → the last key handed out (absent: events never on)
 *
 * One process owns the directory, so the watermarks and the key counter are kept in memory once
 * loaded and changed synchronously in call order, before the write that stores them: two reports
 * in one event-loop turn (a shutdown flushing every document) see each other's watermarks and keys.
 * Claims need no lease here: nobody else delivers.
 */
import type { Level } from 'level'
import type { DocStore } from './doc-store.js'
import type { ComposeChange, EventOutbox, NewEvent, OutboxRecord, SinksOf, Unreported } from './event-outbox.js'
import type { BatchOp, Bytes, Sub } from './level-layout.js'

const KEY_WIDTH = 13
const recordKey = (sink: string, key: number) => `${sink}\u0000${key.toString(16).padStart(KEY_WIDTH, '0')}`
const sinkRange = (sink: string) => ({ gt: `${sink}\u0000`, lt: `${sink}\u0001` })
const PAGE = 500

export class LevelEventOutbox implements EventOutbox {
  readonly shared = false
  private readonly stored: Sub<number>
  private readonly outbox: Sub<OutboxRecord>
  private readonly dead: Sub<OutboxRecord>
  private readonly counter: Sub<number>
  private loaded: Promise<void> | null = null
  /** The last key handed out; undefined until events were first on (the counter is absent). */
  private lastKey: number | undefined
  private readonly marks = new Map<string, number>()

  constructor(
    db: Level<string, Bytes>,
    private readonly write: (ops: BatchOp[]) => Promise<void>,
    private readonly docs: Pick<DocStore, 'list' | 'info'>,
  ) {
    this.stored = db.sublevel('event-watermarks', { valueEncoding: 'json' }) as Sub<number>
    this.outbox = db.sublevel('event-outbox', { valueEncoding: 'json' }) as Sub<OutboxRecord>
    this.dead = db.sublevel('event-dead', { valueEncoding: 'json' }) as Sub<OutboxRecord>
    this.counter = db.sublevel('event-counter', { valueEncoding: 'json' }) as Sub<number>
  }

  async baseline(): Promise<number | null> {
    await this.load()
    if (this.lastKey !== undefined) return null
    const events: NewEvent[] = []
    await this.eachDocument((name, seq) => void events.push({ watermark: { name, seq } }))
    await this.write(this.ops(events, () => []))
    return events.length
  }

  async reportChanges(changes: ReadonlyArray<{ name: string; toSeq: number }>, compose: ComposeChange, sinksOf: SinksOf): Promise<number> {
    await this.load()
    const events: NewEvent[] = []
    for (const { name, toSeq } of changes) {
      const mark = this.marks.get(name)
      if (toSeq <= (mark ?? 0)) continue // already reported
      this.marks.set(name, toSeq)
      events.push({ ...compose({ name, created: mark === undefined, fromSeq: (mark ?? 0) + 1, toSeq }), watermark: { name, seq: toSeq } })
    }
    if (events.length > 0) await this.write(this.ops(events, sinksOf))
    return events.length
  }

  async enqueue(events: readonly NewEvent[], sinksOf: SinksOf): Promise<void> {
    const stillStored = new Set<string>()
    for (const event of events) {
      if (event.ifOrphaned && event.watermark && (await this.docs.info(event.watermark.name)) !== null) stillStored.add(event.watermark.name)
    }
    await this.load()
    const kept = events.filter((e) => !e.ifOrphaned || (e.watermark && this.marks.has(e.watermark.name) && !stillStored.has(e.watermark.name)))
    if (kept.length === 0) return
    await this.write(this.ops(kept, sinksOf))
  }

  async unreported(quietMs: number): Promise<Unreported> {
    await this.load()
    const before = Date.now() - quietMs
    const marks = new Map(this.marks)
    const changed: Unreported['changed'] = []
    await this.eachDocument((name, seq, updatedAt) => {
      if (seq > (marks.get(name) ?? 0) && updatedAt <= before) changed.push({ name, seq })
      marks.delete(name)
    })
    const orphaned: string[] = []
    for (const name of marks.keys()) if ((await this.docs.info(name)) === null) orphaned.push(name)
    return { changed, orphaned }
  }

  async scanTurn(): Promise<boolean> {
    return true
  }

  async claim(sink: string, limit: number): Promise<OutboxRecord[]> {
    const records: OutboxRecord[] = []
    for await (const record of this.outbox.values({ ...sinkRange(sink), limit })) records.push(record as OutboxRecord)
    const now = Date.now()
    return records.filter((r) => r.dueAt <= now)
  }

  async release(): Promise<void> {}

  delivered(record: OutboxRecord): Promise<void> {
    return this.write([{ type: 'del', sublevel: this.outbox, key: recordKey(record.sink, record.key) }])
  }

  retryLater(record: OutboxRecord): Promise<void> {
    return this.write([{ type: 'put', sublevel: this.outbox, key: recordKey(record.sink, record.key), value: record }])
  }

  bury(record: OutboxRecord): Promise<void> {
    const key = recordKey(record.sink, record.key)
    return this.write([
      { type: 'del', sublevel: this.outbox, key },
      { type: 'put', sublevel: this.dead, key, value: record },
    ])
  }

  async deadLetters(sink: string | undefined, limit: number): Promise<OutboxRecord[]> {
    const records: OutboxRecord[] = []
    for await (const record of this.dead.values({ ...(sink === undefined ? {} : sinkRange(sink)), limit })) records.push(record as OutboxRecord)
    return records
  }

  async resurrect(sink: string, key: number): Promise<boolean> {
    const stored = (await this.dead.get(recordKey(sink, key))) as OutboxRecord | undefined
    if (!stored) return false
    const record: OutboxRecord = { ...stored, attempts: 0, dueAt: Date.now() }
    await this.write([
      { type: 'del', sublevel: this.dead, key: recordKey(sink, key) },
      { type: 'put', sublevel: this.outbox, key: recordKey(sink, key), value: record },
    ])
    return true
  }

  async depth(): Promise<{ records: number; oldestCreatedAt: number | null }> {
    let records = 0
    let oldestCreatedAt: number | null = null
    for await (const record of this.outbox.values()) {
      records++
      const created = (record as OutboxRecord).createdAt
      if (oldestCreatedAt === null || created < oldestCreatedAt) oldestCreatedAt = created
    }
    return { records, oldestCreatedAt }
  }

  private load(): Promise<void> {
    this.loaded ??= (async () => {
      this.lastKey = (await this.counter.get('last')) as number | undefined
      for await (const [name, seq] of this.stored.iterator()) this.marks.set(name as string, seq as number)
    })().catch((error: unknown) => {
      this.loaded = null // a read that failed is tried again by the next call
      throw error
    })
    return this.loaded
  }

  /** The batch that stores `events`, made synchronously (keys and watermarks in call order). */
  private ops(events: readonly NewEvent[], sinksOf: SinksOf): BatchOp[] {
    let key = this.lastKey ?? 0
    const ops: BatchOp[] = []
    const now = Date.now()
    for (const event of events) {
      key++
      for (const sink of event.eventId === undefined || event.body === undefined ? [] : sinksOf(event)) {
        const record: OutboxRecord = { key, sink, body: event.body!, eventId: event.eventId!, createdAt: now, attempts: 0, dueAt: now }
        ops.push({ type: 'put', sublevel: this.outbox, key: recordKey(sink, key), value: record })
      }
      const mark = event.watermark
      if (mark?.seq === null) {
        this.marks.delete(mark.name)
        ops.push({ type: 'del', sublevel: this.stored, key: mark.name })
      } else if (mark) {
        this.marks.set(mark.name, mark.seq)
        ops.push({ type: 'put', sublevel: this.stored, key: mark.name, value: mark.seq })
      }
    }
    // Written even when nothing else is: from the first write on, the store counts as started.
    this.lastKey = key
    ops.push({ type: 'put', sublevel: this.counter, key: 'last', value: key })
    return ops
  }

  /** Every stored document, from its metadata, in pages. */
  private async eachDocument(visit: (name: string, seq: number, updatedAt: number) => void): Promise<void> {
    for (let after: string | undefined; ; ) {
      const page = await this.docs.list({ after, limit: PAGE })
      for (const info of page) visit(info.name, info.seq, info.updatedAt)
      if (page.length < PAGE) return
      after = page[page.length - 1]!.name
    }
  }
}
