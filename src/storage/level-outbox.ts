/**
 * The change-event outbox (event-outbox.ts) in the store's LevelDB, written through its group
 * commit like everything else:
 *
 *   event-watermarks  name                  → last seq an event was created for (JSON number)
 *   event-outbox      sink \0 key(hex)      → OutboxRecord (JSON)
 *   event-dead        sink \0 key(hex)      → OutboxRecord (JSON)
 *   event-counter     'last'                → the last key handed out
 */
import type { Level } from 'level'
import type { EventOutbox, NewEvent, OutboxRecord } from './event-outbox.js'
import type { BatchOp, Bytes, Sub } from './level-layout.js'

const KEY_WIDTH = 13
const recordKey = (sink: string, key: number) => `${sink}\u0000${key.toString(16).padStart(KEY_WIDTH, '0')}`
const sinkRange = (sink: string) => ({ gt: `${sink}\u0000`, lt: `${sink}\u0001` })

export class LevelEventOutbox implements EventOutbox {
  private readonly marks: Sub<number>
  private readonly outbox: Sub<OutboxRecord>
  private readonly dead: Sub<OutboxRecord>
  private readonly counter: Sub<number>
  private lastKey: Promise<number> | null = null

  constructor(
    db: Level<string, Bytes>,
    private readonly write: (ops: BatchOp[]) => Promise<void>,
  ) {
    this.marks = db.sublevel('event-watermarks', { valueEncoding: 'json' }) as Sub<number>
    this.outbox = db.sublevel('event-outbox', { valueEncoding: 'json' }) as Sub<OutboxRecord>
    this.dead = db.sublevel('event-dead', { valueEncoding: 'json' }) as Sub<OutboxRecord>
    this.counter = db.sublevel('event-counter', { valueEncoding: 'json' }) as Sub<number>
  }

  async watermarks(): Promise<Map<string, number>> {
    const marks = new Map<string, number>()
    for await (const [name, seq] of this.marks.iterator()) marks.set(name as string, seq as number)
    return marks
  }

  async initialized(): Promise<boolean> {
    return (await this.counter.get('last')) !== undefined
  }

  async enqueue(events: readonly NewEvent[], sinksOf: (event: NewEvent) => readonly string[]): Promise<void> {
    // Keys are handed out in call order, synchronously after the first read of the counter.
    this.lastKey ??= this.counter.get('last').then((stored) => (stored as number | undefined) ?? 0)
    let key = await this.lastKey
    const ops: BatchOp[] = []
    const now = Date.now()
    for (const event of events) {
      key++
      for (const sink of event.eventId === undefined || event.body === undefined ? [] : sinksOf(event)) {
        const record: OutboxRecord = { key, sink, body: event.body!, eventId: event.eventId!, createdAt: now, attempts: 0, dueAt: now }
        ops.push({ type: 'put', sublevel: this.outbox, key: recordKey(sink, key), value: record })
      }
      const mark = event.watermark
      if (mark && mark.seq === null) ops.push({ type: 'del', sublevel: this.marks, key: mark.name })
      else if (mark) ops.push({ type: 'put', sublevel: this.marks, key: mark.name, value: mark.seq })
    }
    this.lastKey = Promise.resolve(key)
    ops.push({ type: 'put', sublevel: this.counter, key: 'last', value: key })
    await this.write(ops)
  }

  async pending(sink: string, limit: number): Promise<OutboxRecord[]> {
    const records: OutboxRecord[] = []
    for await (const record of this.outbox.values({ ...sinkRange(sink), limit })) records.push(record as OutboxRecord)
    return records
  }

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
}
