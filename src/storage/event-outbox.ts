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
 * The outbox, not its caller, decides which seqs a change event covers: it reads the stored
 * watermark and moves it in one atomic step, so that with several processes writing one document
 * (PostgreSQL), each reporting only its own updates, consecutive events still cover consecutive
 * ranges and no seq twice. A record leaves the outbox only once its sink has it (or gave up on
 * it: then it moves to the dead letters, from where it can be sent again).
 */
export interface OutboxRecord {
  /** Per store and sink, increasing in creation order. */
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
  /**
   * With `watermark.seq: null`: only if the watermark is still there and the document is not
   * stored, checked atomically with the write (a deletion a scan found, which the process that
   * deleted it may be reporting at the same time).
   */
  ifOrphaned?: boolean
}

/** The seqs a change event covers, as the outbox decided them. */
export interface ChangeRange {
  name: string
  /** The document had no watermark: the event is its `document.created`. */
  created: boolean
  fromSeq: number
  toSeq: number
}

/** Builds the event for a range once the outbox has decided it (inside its atomic step). */
export type ComposeChange = (range: ChangeRange) => Required<Pick<NewEvent, 'eventId' | 'body' | 'type'>>

/** Which sinks get an event (none: only its watermark moves). */
export type SinksOf = (event: NewEvent) => readonly string[]

export interface Unreported {
  /** Documents whose seq is past their watermark. */
  changed: Array<{ name: string; seq: number }>
  /** Watermarks whose document is not stored. */
  orphaned: string[]
}

export interface EventOutbox {
  /**
   * Whether several processes share this outbox (PostgreSQL). Each reports the updates it stored;
   * one that dies leaves changes nobody reports, so the others scan for them periodically.
   */
  readonly shared: boolean
  /**
   * The first start with events on: if events were never on for this store, takes every stored
   * document's seq as its watermark (the starting point: nothing is announced), atomically, so that
   * of several processes starting together exactly one does it. Null if events were on before.
   */
  baseline(): Promise<number | null>
  /**
   * For each document whose stored watermark is below `toSeq`: one event covering watermark+1 ..
   * toSeq (`created` when it had none), built by `compose`, added to the outbox together with
   * moving the watermark to `toSeq`, in one atomic step that reads the watermark too. Nothing for
   * the others (already reported, e.g. by another process or a scan). Resolves with the events made.
   */
  reportChanges(changes: ReadonlyArray<{ name: string; toSeq: number }>, compose: ComposeChange, sinksOf: SinksOf): Promise<number>
  /** Adds each event for the sinks `sinksOf` names and moves the watermarks, in one write. */
  enqueue(events: readonly NewEvent[], sinksOf: SinksOf): Promise<void>
  /** What is unreported: changes whose last update is over `quietMs` old, and orphaned watermarks. */
  unreported(quietMs: number): Promise<Unreported>
  /**
   * For a shared outbox: true if no process took the scan turn within the last `everyMs / 2`, and
   * this one takes it now (the scan is then not repeated by every process). Always true otherwise.
   */
  scanTurn(everyMs: number): Promise<boolean>
  /**
   * Up to `limit` records of `sink` that are due, oldest first, claimed for `leaseMs`: no other
   * process gets them from `claim` until the lease runs out (the claimer died, or gave them back).
   */
  claim(sink: string, limit: number, leaseMs: number): Promise<OutboxRecord[]>
  /** Gives claimed records back unattempted: due again at once, for any process. */
  release(records: readonly OutboxRecord[]): Promise<void>
  /** The sink has it: removes the record. */
  delivered(record: OutboxRecord): Promise<void>
  /** Saves a failed attempt (attempts, dueAt, lastError) and ends the claim; ignored if the claim was lost. */
  retryLater(record: OutboxRecord): Promise<void>
  /** Moves the record to the dead letters; ignored if the claim was lost. */
  bury(record: OutboxRecord): Promise<void>
  deadLetters(sink: string | undefined, limit: number): Promise<OutboxRecord[]>
  /** Moves a dead letter back to the outbox, due now; false if there is no such record. */
  resurrect(sink: string, key: number): Promise<boolean>
  /** Records waiting, and the oldest one's creation time. */
  depth(): Promise<{ records: number; oldestCreatedAt: number | null }>
}
