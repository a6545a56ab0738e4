/**
 * Change events to NATS JetStream (nats-server with JetStream on 127.0.0.1:4222, or
 * QUIRE_TEST_NATS_URL): each test uses a subject and stream of its own and deletes the stream.
 * A real consumer reads them; a republished event (same id, as after a crash) is stored once.
 */
import { randomBytes } from 'node:crypto'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'
import { NatsSink } from '../src/events/nats-sink.js'

const NATS_URL = process.env.QUIRE_TEST_NATS_URL ?? 'nats://127.0.0.1:4222'
let nc: NatsConnection
let jsm: JetStreamManager
const streams: string[] = []

beforeAll(async () => {
  try {
    nc = await natsConnect({ servers: NATS_URL, timeout: 3000 })
  } catch (error) {
    throw new Error(`NATS with JetStream is needed for this test and cannot be reached at ${NATS_URL}: ${(error as Error).message}`, { cause: error })
  }
  jsm = await jetstreamManager(nc)
  return async () => {
    await nc.close()
  }
})
afterEach(async () => {
  await cleanup()
  for (const stream of streams.splice(0)) await jsm.streams.delete(stream).catch(() => {})
})

function names() {
  const tag = randomBytes(4).toString('hex')
  const stream = `QUIRE_TEST_${tag}`
  streams.push(stream)
  return { subject: `quire-test.${tag}`, stream }
}

/** Every message in `stream`, oldest first, with its Nats-Msg-Id. */
async function messages(stream: string): Promise<Array<{ subject: string; id: string | undefined; type: string; name: string }>> {
  const info = await jsm.streams.info(stream)
  const out = []
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq })
    if (!m) continue
    const body = m.json<{ type: string; data: { name: string } }>()
    out.push({ subject: m.subject, id: m.header?.get('Nats-Msg-Id'), type: body.type, name: body.data.name })
  }
  return out
}

describe('change events to NATS JetStream', () => {
  it('publishes each event on <subject>.<type> with its id as Nats-Msg-Id', async () => {
    const { subject, stream } = names()
    const server = await startServer({ changeEvents: { webhooks: [], nats: { url: NATS_URL, subject, stream }, debounce: { quietMs: 100, maxMs: 1000 }, dispatch: { pollMs: 50 } } })
    const editor = connect(server.url, 'plan')
    await synced(editor)
    editor.doc.getText('t').insert(0, 'hello')
    await waitFor(async () => (await messages(stream)).length >= 1, 'the created event in the stream', 5000)
    expect(await fetch(`http://127.0.0.1:${server.port}/api/docs/plan`, { method: 'DELETE' }).then((r) => r.status)).toBe(204)
    await waitFor(async () => (await messages(stream)).length >= 2, 'the deleted event in the stream', 5000)
    const [created, deleted] = await messages(stream)
    expect(created).toMatchObject({ subject: `${subject}.document.created`, type: 'document.created', name: 'plan' })
    expect(created!.id).toMatch(/^evt_/)
    expect(deleted).toMatchObject({ subject: `${subject}.document.deleted`, type: 'document.deleted', name: 'plan' })
  })

  it('stores an event published twice (a republish after a crash) once', async () => {
    const { subject, stream } = names()
    const sink = await NatsSink.open({ url: NATS_URL, subject, stream, timeoutMs: 5000 })
    try {
      const body = JSON.stringify({ type: 'document.updated', timestamp: new Date().toISOString(), data: { name: 'x', fromSeq: 1, toSeq: 2 } })
      expect(await sink.deliver('evt_same', body)).toEqual({ kind: 'delivered' })
      expect(await sink.deliver('evt_same', body)).toEqual({ kind: 'delivered' })
      expect(await sink.deliver('evt_other', body)).toEqual({ kind: 'delivered' })
      expect((await messages(stream)).map((m) => m.id)).toEqual(['evt_same', 'evt_other'])
    } finally {
      await sink.close()
    }
  })
})
