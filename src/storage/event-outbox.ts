/**
 * Durable bookkeeping for change events (events/), kept by the store next to the documents so
 * that it survives exactly what they survive:
 *
 * - a **watermark** per document: the last seq that an event has been created for. A document
 *   whose seq is past its watermark has changes nobody has been told about yet (the process died
 *   before its debounce fired); a watermark whose document is gone marks a deletion not yet told.
 * - an **outbox**: events created but not yet delivered to every sink, one record per event and
 *   sink, with its attempts so far. An event keeps its id across attempts and restarts.
 *
 * Creating events and moving their watermarks happen in one atomic write, so an event is created
 * once per change, and a record leaves the outbox only once its sink has it (or gave up on it:
 * then it moves to the dead letters, from where it can be sent again).
 */
export interface OutboxRecord {
  /** Per store, increasing in creation order. */
  key: number
  sink: string
  /** The event, as sent (JSON text, so the bytes signed are the bytes stored). */
  body: string
  eventId: string
  createdAt: number
  attempts: number
  /** When to try next (ms since the epoch). */
  dueAt: number
  /** Why the last attempt failed, for the dead letters and logs. */
  lastError?: string
}

export interface NewEvent {
  /** Absent: only the watermark moves (nothing to deliver). */
  eventId?: string
  body?: string
  /** The event's type, for choosing its sinks. */
  type?: string
  /** Document and seq the event covers up to; `seq: null` removes the watermark (deleted). */
  watermark?: { name: string; seq: number | null }
}

export interface EventOutbox {
  /** Every document's watermark. */
  watermarks(): Promise<Map<string, number>>
  /** Adds each event for the sinks `sinksOf` names and moves the watermarks, in one write. */
  enqueue(events: readonly NewEvent[], sinksOf: (event: NewEvent) => readonly string[]): Promise<void>
  /** False until the first enqueue: events have never been on for this store. */
  initialized(): Promise<boolean>
  /** Up to `limit` records of `sink`, oldest first. */
  pending(sink: string, limit: number): Promise<OutboxRecord[]>
  /** The sink has it: removes the record. */
  delivered(record: OutboxRecord): Promise<void>
  /** Saves a failed attempt (attempts, dueAt, lastError). */
  retryLater(record: OutboxRecord): Promise<void>
  /** Moves the record to the dead letters. */
  bury(record: OutboxRecord): Promise<void>
  deadLetters(sink: string | undefined, limit: number): Promise<OutboxRecord[]>
  /** Moves a dead letter back to the outbox, due now; false if there is no such record. */
  resurrect(sink: string, key: number): Promise<boolean>
  /** Records waiting per sink, and the oldest one's creation time. */
  depth(): Promise<{ records: number; oldestCreatedAt: number | null }>
}
