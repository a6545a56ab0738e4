/**
 * fanout: one document, `clients` connected clients, the first `writers` of them each append
 * `rate` marks per second for `durationS` seconds (see bench/edit-load.mjs for what is measured).
 */
import { editLoadMetrics, editLoadRows, runEditLoad } from '../edit-load.mjs'

export const name = 'fanout'
export const description = '1 doc, N clients, W writers × R edits/s; delivery, latency, server CPU'
export const requires = []
export const defaults = { clients: 20, writers: 5, rate: 50, durationS: 10, drainMs: 5000, tickMs: 5 }
export const quickParams = { durationS: 1 }

/** @param {{params: typeof defaults, serverKind: string, log?: (s: string) => void}} ctx */
export function run({ params, serverKind, log }) {
  const { clients, writers, ...rest } = params
  return runEditLoad({
    params: { docs: 1, clientsPerDoc: clients, writersPerDoc: writers, concurrency: 20, ...rest },
    serverKind,
    room: () => 'fanout',
    label: 'fanout',
    log,
  })
}

export const rows = editLoadRows
export const metrics = editLoadMetrics
