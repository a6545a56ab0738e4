/**
 * Change events to a real HTTP receiver that verifies every signature with the Standard Webhooks
 * library and fails the first attempts: every event arrives, with one id across its attempts; and
 * across SIGKILLs — before a debounce fired, and between retries — nothing is missing.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Webhook } from 'standardwebhooks'
import { cleanup, connect, startServer, synced, tempDir, waitFor } from './helpers.js'
import { killChildren, startChild } from './child-server.js'

afterEach(async () => {
  await killChildren()
  await cleanup()
  for (const receiver of receivers.splice(0)) await receiver.close()
})

interface Received {
  id: string
  type: string
  data: { name: string; fromSeq?: number; toSeq?: number; origins?: { rest: boolean; connections: number; recovered?: boolean } }
}

interface Receiver {
  url: string
  secret: string
  /** Accepted deliveries, in arrival order (each id once: later duplicates are counted, not kept). */
  events: Received[]
  attempts: Map<string, number>
  duplicates: number
  badSignatures: number
  /** Refuse the first `n` attempts of every event with 500. */
  failFirst: number
  close(): Promise<void>
}

const receivers: Receiver[] = []

/** A receiver on a given port with a given secret (an endpoint that comes back). */
const startReceiverOn = (port: number, secret: string) => startReceiver(0, { port, secret })

async function startReceiver(failFirst = 0, at: { port?: number; secret?: string } = {}): Promise<Receiver> {
  const secret = at.secret ?? `whsec_${randomBytes(32).toString('base64')}`
  const verifier = new Webhook(secret)
  const receiver: Receiver = { url: '', secret, events: [], attempts: new Map(), duplicates: 0, badSignatures: 0, failFirst, close: async () => {} }
  const server: Server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
    request.on('end', () => {
      let payload: Omit<Received, 'id'>
      try {
        payload = verifier.verify(body, request.headers as Record<string, string>) as Omit<Received, 'id'>
      } catch {
        receiver.badSignatures++
        response.writeHead(400).end()
        return
      }
      const id = String(request.headers['webhook-id'])
      const attempt = (receiver.attempts.get(id) ?? 0) + 1
      receiver.attempts.set(id, attempt)
      if (attempt <= receiver.failFirst) {
        response.writeHead(500).end()
        return
      }
      if (receiver.events.some((e) => e.id === id)) receiver.duplicates++
      else receiver.events.push({ id, ...payload })
      response.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(at.port ?? 0, '127.0.0.1', resolve))
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/quire`
  receiver.close = () => new Promise((resolve) => server.close(() => resolve()))
  receivers.push(receiver)
  return receiver
}

const fast = { debounce: { quietMs: 100, maxMs: 1000 }, retrySchedule: [100, 100, 100, 100], dispatch: { pollMs: 50 } }

describe('change events to webhooks', () => {
  it('delivers created, updated and deleted events, signed, retried with the same id until accepted', async () => {
    const receiver = await startReceiver(2)
    const server = await startServer({ changeEvents: { webhooks: [{ url: receiver.url, secrets: [receiver.secret] }], ...fast } })
    const editor = connect(server.url, 'notes')
    await synced(editor)
    editor.doc.getText('t').insert(0, 'hello')
    await waitFor(() => receiver.events.some((e) => e.type === 'document.created'), 'document.created', 5000)
    editor.doc.getText('t').insert(5, ' world')
    await waitFor(() => receiver.events.some((e) => e.type === 'document.updated'), 'document.updated', 5000)
    const response = await fetch(`http://127.0.0.1:${server.port}/api/docs/notes`, { method: 'DELETE' })
    expect(response.status).toBe(204)
    await waitFor(() => receiver.events.some((e) => e.type === 'document.deleted'), 'document.deleted', 5000)

    const [created, updated, deleted] = receiver.events
    expect(created).toMatchObject({ type: 'document.created', data: { name: 'notes', fromSeq: 1, origins: { rest: false, connections: 1 } } })
    expect(updated).toMatchObject({ type: 'document.updated', data: { name: 'notes', fromSeq: created!.data.toSeq! + 1 } })
    expect(deleted).toMatchObject({ type: 'document.deleted', data: { name: 'notes' } })
    // Every event was refused twice, then accepted on the third attempt with the same id.
    for (const event of receiver.events) expect(receiver.attempts.get(event.id)).toBe(3)
    expect(receiver.badSignatures).toBe(0)
    expect(receiver.duplicates).toBe(0)
  })

  it('moves an event to the dead letters when the endpoint answers 410, and stops trying', async () => {
    const receiver = await startReceiver()
    const server = await startServer({ changeEvents: { webhooks: [{ url: receiver.url.replace('/hooks/quire', '/gone'), secrets: [receiver.secret] }], ...fast } })
    // A receiver that says 410 for this path.
    await receiver.close()
    const gone = createServer((_request, response) => response.writeHead(410).end())
    const port = Number(new URL(receiver.url).port)
    await new Promise<void>((resolve) => gone.listen(port, '127.0.0.1', resolve))
    receivers.push({ ...receiver, close: () => new Promise((resolve) => (gone.listening ? gone.close(() => resolve()) : resolve())) })
    const editor = connect(server.url, 'doomed')
    await synced(editor)
    editor.doc.getText('t').insert(0, 'x')
    await waitFor(async () => /quire_event_deliveries_total\{sink="[^"]+",outcome="dead"\} 1/.test(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()), 'the event to be buried', 5000)
    // The admin API lists it, and sends it again once the endpoint is back.
    const api = `http://127.0.0.1:${server.port}/api/events/dead-letters`
    const dead = (await (await fetch(api)).json()) as Array<{ sink: string; key: number; eventId: string; attempts: number; lastError: string; event: { type: string } }>
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ attempts: 1, lastError: 'the endpoint answered 410 Gone', event: { type: 'document.created' } })
    await new Promise((resolve) => gone.close(resolve))
    const back = await startReceiverOn(port, receiver.secret)
    const redeliver = await fetch(`${api}/${encodeURIComponent(dead[0]!.sink)}/${dead[0]!.key}/redeliver`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(redeliver.status).toBe(204)
    await waitFor(() => back.events.length === 1, 'the redelivered event', 5000)
    expect(back.events[0]!.id).toBe(dead[0]!.eventId)
    expect(await (await fetch(api)).json()).toEqual([])
    const missing = await fetch(`${api}/${encodeURIComponent(dead[0]!.sink)}/${dead[0]!.key}/redeliver`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(missing.status).toBe(404)
  })
})

describe('change events across crashes (SIGKILL)', () => {
  it('reports edits whose debounce never fired, after a restart', async () => {
    const receiver = await startReceiver()
    const dataDir = await tempDir()
    const env = { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: receiver.secret, WEBHOOK_RETRY_SCHEDULE: '100ms,100ms,100ms' }
    // Start once so that the store's events begin here (the first start takes what exists as known).
    const first = await startChild({ dataDir, env })
    const editor = connect(first.url, 'draft')
    await synced(editor)
    editor.doc.getText('t').insert(0, 'typed just before the crash')
    // The update is stored (the echo-free y-websocket provider: wait for the server's metadata).
    await waitFor(async () => ((await (await fetch(`http://127.0.0.1:${first.port}/api/docs/draft`)).json()) as { updates: number }).updates > 0, 'the edit to be stored')
    editor.destroy()
    await first.kill('SIGKILL') // the 2 s debounce has not fired: no event yet
    expect(receiver.events).toEqual([])

    const second = await startChild({ dataDir, env })
    await waitFor(() => receiver.events.length > 0, 'the recovered event', 10_000)
    expect(receiver.events[0]).toMatchObject({ type: 'document.created', data: { name: 'draft', fromSeq: 1, origins: { recovered: true } } })
    await second.kill('SIGTERM')
  })

  it('delivers an event whose retries were cut by SIGKILL, with the same id, after a restart', async () => {
    const receiver = await startReceiver(1_000_000) // refuses everything for now
    const dataDir = await tempDir()
    const env = { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: receiver.secret, WEBHOOK_RETRY_SCHEDULE: '200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms' }
    const first = await startChild({ dataDir, env })
    const editor = connect(first.url, 'retried')
    await synced(editor)
    editor.doc.getText('t').insert(0, 'x')
    editor.destroy() // its event is created once the 2 s debounce fires
    await waitFor(() => [...receiver.attempts.values()].some((n) => n >= 2), 'a couple of refused attempts', 10_000)
    const [id] = [...receiver.attempts.keys()]
    await first.kill('SIGKILL')

    receiver.failFirst = 0 // the receiver is fixed
    const second = await startChild({ dataDir, env })
    await waitFor(() => receiver.events.length > 0, 'the delivery after the restart', 10_000)
    expect(receiver.events.map((e) => e.id)).toEqual([id])
    expect(receiver.events[0]).toMatchObject({ type: 'document.created', data: { name: 'retried' } })
    await second.kill('SIGTERM')
  })
})
