/**
 * Group commit: every batch of operations added during one event-loop turn is written with a
 * single `commit` call, and batches are committed strictly one after another, so a promise
 * returned by `add` resolves only after everything added before it is durable too.
 */
export class GroupCommit<Op, Batch = void> {
  private pending: Op[] = []
  private waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = []
  private scheduled = false
  private running = false

  /**
   * @param commit writes one batch atomically. It gets what `prepare` returned for that batch,
   *   so that it can tell which state the batch carried when it learns whether the write landed.
   * @param prepare runs just before a batch is committed and may add operations to it. A batch
   *   that ends up with no operations is not committed (and nothing was carried).
   */
  constructor(
    private readonly commit: (ops: Op[], batch: Batch) => Promise<void>,
    private readonly prepare: (ops: Op[]) => Batch = () => undefined as Batch,
  ) {}

  /** Queues operations; resolves when they and everything queued before them are committed. */
  add(ops: readonly Op[]): Promise<void> {
    for (const op of ops) this.pending.push(op)
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }))
    if (!this.scheduled && !this.running) {
      this.scheduled = true
      setImmediate(() => void this.run())
    }
    return done
  }

  /** Resolves when everything queued so far is committed (rejects if that write failed). */
  barrier(): Promise<void> {
    return this.add([])
  }

  private async run(): Promise<void> {
    this.scheduled = false
    this.running = true
    while (this.waiters.length > 0) {
      const ops = this.pending
      const waiters = this.waiters
      this.pending = []
      this.waiters = []
      try {
        const batch = this.prepare(ops)
        if (ops.length > 0) await this.commit(ops, batch)
        for (const waiter of waiters) waiter.resolve()
      } catch (error) {
        for (const waiter of waiters) waiter.reject(error)
      }
    }
    this.running = false
  }
}
