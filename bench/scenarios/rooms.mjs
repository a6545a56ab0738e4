/**
 * rooms: many small documents at once — `docs` documents × `clientsPerDoc` clients, the first
 * `writersPerDoc` client(s) of each document append `rate` marks per second for `durationS`
 * seconds (see bench/edit-load.mjs for what is measured).
 */
import { editLoadMetrics, editLoadRows, runEditLoad } from '../edit-load.mjs'

export const name = 'rooms'
export const description = 'D docs × C clients, 1 writer per doc at R edits/s; delivery, latency, server CPU'
export const requires = []
export const defaults = { docs: 200, clientsPerDoc: 5, writersPerDoc: 1, rate: 2, durationS: 10, drainMs: 5000, tickMs: 5, concurrency: 50 }
export const quickParams = { docs: 20, durationS: 1 }

/** @param {{params: typeof defaults, serverKind: string, log?: (s: string) => void}} ctx */
export function run({ params, serverKind, log }) {
  return runEditLoad({ params, serverKind, room: (d) => `rooms-${d}`, label: 'rooms', log })
}

export const rows = editLoadRows
export const metrics = editLoadMetrics
