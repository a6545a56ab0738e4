/**
 * y-websocket clients re-broadcast every awareness change they receive, so a client's message
 * rate grows with its room's activity, not its own. Those echoes carry clocks the server already
 * has and change nothing; they pass the rate limit free, so only a client's own messages count.
 */
import type { Awareness } from 'y-protocols/awareness'
import type { AwarenessEntry } from '../protocol/messages.js'

/** True if every entry is a state `awareness` already holds at the same or a newer clock. */
export function isAwarenessEcho(entries: readonly AwarenessEntry[], awareness: Awareness): boolean {
  if (entries.length === 0) return false
  for (const { clientId, clock } of entries) {
    const known = awareness.meta.get(clientId)
    if (!known || known.clock < clock) return false
  }
  return true
}
