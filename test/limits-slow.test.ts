/**
 * Slow consumers: a client that completes the handshake and then never reads must not make the
 * server buffer everything the room sends it. It is closed with 1013 once its unsent buffer
 * would pass maxBufferedBytes; a paused socket cannot read that close frame, so the test observes
 * the drop through the registry and the metrics, and bounds what was written for it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { cleanup, pausedSocket, rawClient, startServer, waitFor } from './helpers.js'
import { metric } from './metrics-helpers.js'

afterEach(cleanup)

const MiB = 1024 * 1024
const THRESHOLD = 1 * MiB
const CHUNK = 256 * 1024
const CHUNKS = 96 // 24 MiB in total: far more than the threshold plus the kernel's socket buffers

/** A raw client that counts the bytes and the update frames it receives. */
async function countingClient(url: string, room: string) {
  const client = await rawClient(url, room)
  const counts = { bytes: 0, updates: 0 }
  client.ws.on('message', (data: Buffer) => {
    counts.bytes += data.byteLength
    if (data[0] === 0 && data[1] === 2) counts.updates++
  })
  return { client, counts }
}

async function sentBytesTotal(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  return text
    .split('\n')
    .filter((line) => line.startsWith('quire_sent_bytes_total{'))
    .reduce((sum, line) => sum + Number(line.split(' ')[1]), 0)
}

describe('slow consumers', () => {
  it('drops a client that never reads with 1013 before it has been sent much past the threshold', async () => {
    const server = await startServer({ compactAfterBytes: 2 ** 40, limits: { maxBufferedBytes: THRESHOLD, messagesPerSecond: 0 } })
    const reader = await countingClient(server.url, 'firehose')
    const slow = await pausedSocket(server.port, 'firehose')
    const room = () => server.app.quire.registry.get('firehose')
    await waitFor(() => room()?.peerCount === 2, 'the paused peer to join')

    // The writer sends its next update only once the previous one came back, so the server
    // never has more than one chunk queued for the clients that do read.
    const writer = await countingClient(server.url, 'firehose')
    const doc = new Y.Doc()
    let pending: Uint8Array | null = null
    doc.on('update', (update: Uint8Array) => (pending = update))
    const text = doc.getText('t')
    for (let i = 0; i < CHUNKS; i++) {
      text.insert(text.length, String.fromCharCode(97 + (i % 26)).repeat(CHUNK))
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, 0)
      encoding.writeVarUint(e, 2)
      encoding.writeVarUint8Array(e, pending!)
      writer.client.send(encoding.toUint8Array(e))
      await waitFor(() => writer.counts.updates === i + 1, `echo of chunk ${i}`)
    }
    await waitFor(() => reader.counts.updates === CHUNKS, 'the reader to get every chunk')

    expect(await metric(server, 'quire_limit_rejections_total{limit="slow-consumer"}')).toBe(1)
    expect(room()?.peerCount).toBe(2) // reader and writer: the paused peer is gone
    expect(room()?.doc.getText('t').length).toBe(CHUNK * CHUNKS)
    // Everything sent minus what the two reading clients got went to the paused peer. Without
    // the limit that is all 24 MiB, held in the server's memory; with it, the threshold plus
    // what the kernel's socket buffers took before they filled up.
    const toSlow = (await sentBytesTotal(server.port)) - reader.counts.bytes - writer.counts.bytes
    expect(toSlow).toBeGreaterThan(0)
    expect(toSlow).toBeLessThan(THRESHOLD + 12 * MiB)
    expect(reader.client.ws.readyState).toBe(reader.client.ws.OPEN)
    slow.destroy()
  })
})
