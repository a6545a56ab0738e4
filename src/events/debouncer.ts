/**
 * Gathers a document's stored updates into one `document.updated` event: it fires once the
 * document has been quiet for `quietMs`, or `maxMs` after the first update it holds, whichever
 * comes first, so a long editing session still reports every few seconds.
 */
import type { ChangeOrigins } from './change-events.js'

export interface DebounceTiming {
  quietMs: number
  maxMs: number
}

export const DEFAULT_DEBOUNCE: DebounceTiming = { quietMs: 2000, maxMs: 10_000 }

export interface Pending {
  name: string
  fromSeq: number
  toSeq: number
  origins: ChangeOrigins
}

interface Gathering extends Pending {
  subjects: Set<string>
  connections: Set<string>
  firstAt: number
  timer: NodeJS.Timeout
}

export class Debouncer {
  private readonly gathering = new Map<string, Gathering>()

  constructor(
    private readonly timing: DebounceTiming,
    private readonly fire: (pending: Pending) => void,
  ) {}

  /** Seq `seq` of `name` is stored; `from` says who made it. */
  add(name: string, seq: number, from: { connection?: string; subject?: string; rest?: boolean }): void {
    const now = Date.now()
    let entry = this.gathering.get(name)
    if (!entry) {
      entry = {
        name, fromSeq: seq, toSeq: seq, firstAt: now, subjects: new Set(), connections: new Set(),
        origins: { subjects: [], connections: 0, rest: false }, timer: setTimeout(() => {}, 0),
      }
      this.gathering.set(name, entry)
    }
    entry.fromSeq = Math.min(entry.fromSeq, seq)
    entry.toSeq = Math.max(entry.toSeq, seq)
    if (from.connection) entry.connections.add(from.connection)
    if (from.subject) entry.subjects.add(from.subject)
    if (from.rest) entry.origins.rest = true
    clearTimeout(entry.timer)
    const wait = Math.min(this.timing.quietMs, entry.firstAt + this.timing.maxMs - now)
    entry.timer = setTimeout(() => this.flush(name), Math.max(0, wait))
    entry.timer.unref()
  }

  /** Fires what is gathered for `name` now. */
  flush(name: string): void {
    const entry = this.gathering.get(name)
    if (!entry) return
    clearTimeout(entry.timer)
    this.gathering.delete(name)
    this.fire({
      name,
      fromSeq: entry.fromSeq,
      toSeq: entry.toSeq,
      origins: { subjects: [...entry.subjects].sort(), connections: entry.connections.size, rest: entry.origins.rest },
    })
  }

  /** Drops what is gathered for `name` (deleted: its updates are reported by the deletion). */
  forget(name: string): void {
    const entry = this.gathering.get(name)
    if (entry) clearTimeout(entry.timer)
    this.gathering.delete(name)
  }

  flushAll(): void {
    for (const name of [...this.gathering.keys()]) this.flush(name)
  }
}
