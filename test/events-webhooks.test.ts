/**
 * Change events to a real HTTP receiver that verifies every signature with the Standard Webhooks
 * library and fails the first attempts: every event arrives, with one id across its attempts; and
 * across SIGKILLs — before a debounce fired, and between retries — nothing is missing.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, connect, startServer, synced, tempDir, waitFor } from './helpers.js'
import { killChildren, startChild } from './child-server.js'
import { closeReceivers, expectCreatedUpdatedDeleted, fast, startReceiver, webhookTo } from './events-helpers.js'

afterEach(async () => {
  await killChildren()
  await cleanup()
  await closeReceivers()
})

describe('change events to webhooks', () => {
  it('delivers created, updated and deleted events, signed, retried with the same id until accepted', async () => {
    const receiver = await startReceiver(2)
    const server = await startServer({ changeEvents: { webhooks: [{ url: receiver.url, secrets: [receiver.secret] }], ...fast } })
    // Every event is refused twice, then accepted on the third attempt with the same id.
    await expectCreatedUpdatedDeleted(server, receiver)
  })

  it('moves an event to the dead letters when the endpoint answers 410, and stops trying', async () => {
    const receiver = await startReceiver()
    receiver.answer = 410 // the endpoint wants nothing more, for now
    const server = await startServer({ changeEvents: { ...webhookTo(receiver), ...fast } })
    const editor = connect(server.url, 'doomed')
    await synced(editor)
    editor.doc.getText('t').insert(0, 'x')
    await waitFor(async () => /quire_event_deliveries_total\{sink="[^"]+",outcome="dead"\} 1/.test(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()), 'the event to be buried', 5000)
    // The admin API lists it, and sends it again once the endpoint is back.
    const api = `http://127.0.0.1:${server.port}/api/events/dead-letters`
    const dead = (await (await fetch(api)).json()) as Array<{ sink: string; key: number; eventId: string; attempts: number; lastError: string; event: { type: string } }>
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ attempts: 1, lastError: 'the endpoint answered 410 Gone', event: { type: 'document.created' } })
    receiver.answer = null // it is back
    const redeliver = await fetch(`${api}/${encodeURIComponent(dead[0]!.sink)}/${dead[0]!.key}/redeliver`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(redeliver.status).toBe(204)
    await waitFor(() => receiver.events.length === 1, 'the redelivered event', 5000)
    expect(receiver.events[0]!.id).toBe(dead[0]!.eventId)
    expect(receiver.attempts.get(dead[0]!.eventId)).toBe(2)
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
