/**
 * y-websocket clients re-broadcast every awareness change they receive, so a client's message
 * rate grows with its room's activity, not its own. Those echoes carry clocks the server already
 * has and change nothing; they pass the rate limit free, so only a client's own messages count.
 */
import * as decoding from 'lib0/decoding'
import type { Awareness } from 'y-protocols/awareness'

/** True if every state in `update` is one `awareness` already holds at the same or a newer clock. */
export function isAwarenessEcho(update: Uint8Array, awareness: Awareness): boolean {
  try {
    const decoder = decoding.createDecoder(update)
    const count = decoding.readVarUint(decoder)
    if (count === 0) return false
    for (let i = 0; i < count; i++) {
      const clientId = decoding.readVarUint(decoder)
      const clock = decoding.readVarUint(decoder)
      decoding.readVarString(decoder) // the state, as JSON: not needed
      const known = awareness.meta.get(clientId)
      if (!known || known.clock < clock) return false
    }
    return true
  } catch {
    return false // malformed: the decoder of the room refuses it anyway
  }
}
