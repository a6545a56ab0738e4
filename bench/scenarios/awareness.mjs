/**
 * awareness: one document, `clients` connected clients, each moving its cursor `rate` times a
 * second for `durationS` seconds (an awareness update with its own client id, a growing clock
 * and a state holding the cursor position and the send time). Measures what presence costs the
 * server: CPU, awareness frames the clients receive in all, and how long a cursor move takes to
 * reach the others (arrival of the state at each other client − send time, one process clock).
 * A server that relays every change sends clients × (clients − 1) × rate frames a second; one
 * that coalesces a room's changes per short window sends far fewer, each with several states.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { MSG_AWARENESS, closeAll, connectMany } from '../client.mjs'
import { removeDir, sleep, startServer } from '../server-process.mjs'
import { MiB, round, summarize } from '../stats.mjs'

export const name = 'awareness'
export const description = '1 doc, N clients each moving a cursor R times/s; server CPU, frames received, cursor latency'
export const requires = []
export const defaults = { clients: 50, rate: 10, durationS: 10, drainMs: 1000, concurrency: 25 }
export const quickParams = { clients: 20, durationS: 1 }

/** [1, awareness update] with one entry, framed for the client's protocol. */
function awarenessFrame(address, clientId, clock, state) {
  const update = encoding.createEncoder()
  encoding.writeVarUint(update, 1)
  encoding.writeVarUint(update, clientId)
  encoding.writeVarUint(update, clock)
  encoding.writeVarString(update, JSON.stringify(state))
  const e = encoding.createEncoder()
  if (address !== null) encoding.writeVarString(e, address)
  encoding.writeVarUint(e, MSG_AWARENESS)
  encoding.writeVarUint8Array(e, encoding.toUint8Array(update))
  return encoding.toUint8Array(e)
}

export async function run({ params, serverKind = 'quire', log = console.log }) {
  const { clients: count, rate, durationS, drainMs, concurrency } = params
  const server = await startServer({ kind: serverKind })
  let clients = []
  try {
    const latencies = []
    /** Latest clock seen per (receiver, sender): a state seen again (echoes, resends) is not counted twice. */
    const seen = new Map()
    let statesIn = 0
    const onAwareness = (update, arrivedAt, receiver) => {
      const d = decoding.createDecoder(update)
      const entries = decoding.readVarUint(d)
      for (let i = 0; i < entries; i++) {
        const clientId = decoding.readVarUint(d)
        const clock = decoding.readVarUint(d)
        const json = decoding.readVarString(d)
        if (clientId === receiver.doc.clientID || json === 'null') continue
        const key = `${receiver.id}:${clientId}`
        if ((seen.get(key) ?? -1) >= clock) continue
        seen.set(key, clock)
        statesIn++
        const state = JSON.parse(json)
        if (typeof state.t === 'number') latencies.push(arrivedAt - state.t)
      }
    }
    clients = await connectMany(
      count,
      (i) => ({ url: server.url, protocol: server.protocol, room: 'cursors', id: `a${i}`, onAwareness, handshake: server.can.sync, syncTimeoutMs: 60_000 }),
      { concurrency },
    )
    await sleep(200)
    const framesBefore = clients.reduce((sum, c) => sum + c.stats.awarenessIn, 0)
    const cpu0 = server.cpuSeconds()
    const clocks = new Map(clients.map((c) => [c, 0]))
    const started = performance.now()
    let sent = 0
    // Every client moves once per 1/rate s, spread evenly over the period.
    const period = 1000 / rate
    await new Promise((resolve) => {
      const tick = setInterval(() => {
        const elapsed = performance.now() - started
        if (elapsed >= durationS * 1000) {
          clearInterval(tick)
          return resolve()
        }
        clients.forEach((client, i) => {
          const due = Math.floor((elapsed + (i * period) / count) / period)
          if (due <= clocks.get(client)) return
          clocks.set(client, due)
          client.send(awarenessFrame(client.address, client.doc.clientID, due + 1, { cursor: due, t: performance.now() }))
          sent++
        })
      }, 2)
    })
    await sleep(drainMs)
    const cpu = server.cpuSeconds() - cpu0
    const frames = clients.reduce((sum, c) => sum + c.stats.awarenessIn, 0) - framesBefore
    const latency = summarize(latencies)
    const result = {
      params,
      target: serverKind,
      movesSent: sent,
      statesExpected: sent * (count - 1),
      statesReceived: statesIn,
      framesReceived: frames,
      framesPerMove: round(frames / Math.max(1, sent), 2),
      latencyMs: { p50: round(latency.p50, 2), p99: round(latency.p99, 2), max: round(latency.max, 2) },
      serverCpuSeconds: round(cpu, 3),
      peakRssMiB: round(server.memory().hwm / MiB, 1),
      serverProblems: server.problems.slice(0, 10),
    }
    log(`awareness: ${sent} moves, ${frames} frames received (${result.framesPerMove} per move), ${statesIn}/${result.statesExpected} states, p50 ${result.latencyMs.p50} ms, CPU ${result.serverCpuSeconds} s`)
    return result
  } finally {
    await closeAll(clients)
    await server.stop()
    await removeDir(server.dataDir)
  }
}

export function rows(r) {
  return [
    ['clients / moves per second each / s', `${r.params.clients} / ${r.params.rate} / ${r.params.durationS}`],
    ['moves sent; states received / expected', `${r.movesSent}; ${r.statesReceived} / ${r.statesExpected}`],
    ['awareness frames received (per move)', `${r.framesReceived} (${r.framesPerMove})`],
    ['cursor latency p50 / p99 / max (ms)', `${r.latencyMs.p50} / ${r.latencyMs.p99} / ${r.latencyMs.max}`],
    ['server CPU (s) / peak RSS (MiB)', `${r.serverCpuSeconds} / ${r.peakRssMiB}`],
  ]
}

export function metrics(r) {
  return [
    { key: 'cpu', label: 'server CPU (s)', value: r.serverCpuSeconds, better: 'lower' },
    { key: 'frames', label: 'awareness frames received', value: r.framesReceived, better: 'lower' },
    { key: 'states', label: 'states received (%)', value: round((100 * r.statesReceived) / Math.max(1, r.statesExpected), 2), better: 'higher' },
    { key: 'p50', label: 'cursor latency p50 (ms)', value: r.latencyMs.p50, better: 'lower' },
    { key: 'p99', label: 'cursor latency p99 (ms)', value: r.latencyMs.p99, better: 'lower' },
  ]
}
