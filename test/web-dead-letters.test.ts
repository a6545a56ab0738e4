/**
 * The dashboard's dead-letter panel in Chromium: an event buried because its endpoint answered
 * 410 shows up (sink, type, document, attempts, error, time), and its Redeliver button sends it
 * again — the receiver, back to answering 200, gets it under the same webhook-id. With change
 * events off the panel says so, without a failed request.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Browser } from 'playwright-core'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'
import { SECRET, closeClients, providerWith, sign } from './auth-helpers.js'
import { launchChromium, openPage, pageErrors } from './chromium.js'
import { closeReceivers, fast, startReceiver, webhookTo } from './events-helpers.js'

let browser: Browser
beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => browser?.close())
afterEach(async () => {
  closeClients()
  await cleanup()
  await closeReceivers()
})

describe('dead letters in the dashboard', () => {
  it('lists a dead letter, and Redeliver sends it again with the same webhook-id', async () => {
    const receiver = await startReceiver()
    receiver.answer = 410 // the endpoint wants nothing more, for now
    const server = await startServer({ auth: { secret: SECRET }, changeEvents: { ...webhookTo(receiver), ...fast } })
    const http = `http://127.0.0.1:${server.port}`
    const editor = providerWith(server.url, 'letters/one', await sign({ claims: { sub: 'alice', docs: { 'letters/*': 'write' } } }))
    await synced(editor)
    editor.doc.getText('t').insert(0, 'hello')
    const admin = await sign({ claims: { sub: 'ops', role: 'admin' } })
    const deadLetters = async () => (await (await fetch(`${http}/api/events/dead-letters`, { headers: { authorization: `Bearer ${admin}` } })).json()) as unknown[]
    await waitFor(async () => (await deadLetters()).length === 1, 'the event to be buried', 5000)
    const [buried] = [...receiver.attempts.keys()]

    const page = await openPage(browser, `${http}/admin?token=${encodeURIComponent(admin)}`)
    const panel = page.locator('[data-testid="dead-letters-panel"]')
    const row = panel.locator(`tr[data-event-id="${buried}"]`)
    await row.waitFor()
    expect(await row.locator('[data-col="sink"]').innerText()).toBe(`webhook:${receiver.url}`)
    expect(await row.locator('[data-col="type"]').innerText()).toBe('document.created')
    expect(await row.locator('[data-col="document"]').innerText()).toBe('letters/one')
    expect(await row.locator('[data-col="attempts"]').innerText()).toBe('1')
    expect(await row.locator('[data-col="error"]').innerText()).toContain('410')
    expect(await row.locator('[data-col="time"]').innerText()).toMatch(/just now|s ago/)
    expect(await page.locator('[data-testid="outbox-note"]').innerText()).toMatch(/^1 dead · 0 waiting in the outbox/)
    await page.screenshot({ path: new URL('./screenshots/dashboard-dead-letters.png', import.meta.url).pathname, fullPage: true })

    receiver.answer = null // the endpoint is back
    await row.locator('button[data-action="redeliver"]').click()
    await waitFor(() => receiver.events.length === 1, 'the redelivered event', 5000)
    expect(receiver.events[0]).toMatchObject({ id: buried, type: 'document.created', data: { name: 'letters/one' } })
    expect(receiver.attempts.get(buried!)).toBe(2)
    await panel.and(page.locator('[data-state="empty"]')).waitFor()
    expect(await row.count()).toBe(0)
    expect(await deadLetters()).toEqual([])
    expect(receiver.badSignatures).toBe(0)
    expect(pageErrors.get(page)).toEqual([])
    await page.context().close()
  })

  it('says change events are off when they are', async () => {
    const server = await startServer()
    const editor = connect(server.url, 'plain')
    await synced(editor)
    const page = await openPage(browser, `http://127.0.0.1:${server.port}/admin`)
    const panel = page.locator('[data-testid="dead-letters-panel"]')
    await panel.and(page.locator('[data-state="off"]')).waitFor()
    expect(await page.locator('[data-testid="outbox-note"]').innerText()).toBe('change events off')
    expect(await panel.locator('table').isHidden()).toBe(true)
    expect(pageErrors.get(page)).toEqual([])
    await page.context().close()
  })
})
