/** Hand-made client frames for the adversarial tests, encoded with lib0 directly (not the server's encoders). */
import * as encoding from 'lib0/encoding'

export interface Entry {
  clientId: number
  clock: number
  /** `null` removes the client. */
  state: unknown
}

/** An awareness message [1, update] holding `entries`. */
export function awarenessFrame(entries: Entry[]): Uint8Array {
  const update = encoding.createEncoder()
  encoding.writeVarUint(update, entries.length)
  for (const { clientId, clock, state } of entries) {
    encoding.writeVarUint(update, clientId)
    encoding.writeVarUint(update, clock)
    encoding.writeVarString(update, JSON.stringify(state))
  }
  const frame = encoding.createEncoder()
  encoding.writeVarUint(frame, 1)
  encoding.writeVarUint8Array(frame, encoding.toUint8Array(update))
  return encoding.toUint8Array(frame)
}

/** A sync message [0, subtype, payload]: 0 SyncStep1, 1 SyncStep2, 2 Update. */
export function syncFrame(subtype: 0 | 1 | 2, payload: Uint8Array): Uint8Array {
  const frame = encoding.createEncoder()
  encoding.writeVarUint(frame, 0)
  encoding.writeVarUint(frame, subtype)
  encoding.writeVarUint8Array(frame, payload)
  return encoding.toUint8Array(frame)
}

/** VmRSS of a process in bytes, from /proc. */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)
  if (!kib) throw new Error(`no VmRSS for ${pid}`)
  return Number(kib[1]) * 1024
}
