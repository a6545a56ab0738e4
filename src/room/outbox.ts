/**
 * The durability outbox of a room: nothing leaves before the writes issued ahead of it are
 * committed. A relay frame is queued behind the append of its own update; a SyncStep2 answer
 * behind every append in flight when it was computed (it may contain their content). Writes
 * commit in order (group commit), so a count of issued and committed writes is all it needs.
 */
export class DurableOutbox {
  private issued = 0
  private committed = 0
  private readonly waiting: Array<{ after: number; deliver: () => void }> = []

  /** Counts one write now in flight; call `committed()` when it is durable. */
  writeIssued(): void {
    this.issued++
  }

  /** One more write (the oldest in flight) is durable: delivers what was waiting for it. */
  writeCommitted(): void {
    this.committed++
    let released = 0
    while (released < this.waiting.length && this.waiting[released]!.after <= this.committed) {
      this.waiting[released]!.deliver()
      released++
    }
    this.waiting.splice(0, released)
  }

  /** Runs `deliver` once every write issued so far is committed: now, if none is in flight. */
  afterWrites(deliver: () => void): void {
    if (this.waiting.length === 0 && this.committed === this.issued) deliver()
    else this.waiting.push({ after: this.issued, deliver })
  }

  /** Drops everything waiting (the room failed or closed: nothing more may be sent). */
  clear(): void {
    this.waiting.length = 0
  }
}
