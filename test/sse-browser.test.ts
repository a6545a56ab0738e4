/**
 * The demo editor with `?transport=sse` in Chromium (playwright-core), editing together with a
 * demo page on WebSocket: text and cursors both ways, the SSE status in the top bar, and the
 * offline state when the server goes away. Each page has its own browser context.
 */
import { mkdir } from 'node:fs/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { editorText, launchChromium, openPage as openChromiumPage, pageErrors, statusPill } from './chromium.js'
import { cleanup, startServer, waitFor } from './helpers.js'

const SCREENSHOTS = new URL('./screenshots/', import.meta.url).pathname
let browser: Browser

beforeAll(async () => {
  await mkdir(SCREENSHOTS, { recursive: true })
  browser = await launchChromium()
})
afterAll(async () => browser?.close())
afterEach(cleanup)

/** A page in a browser context of its own, its errors recorded (test/chromium.ts). */
const openPage = (url: string): Promise<Page> => openChromiumPage(browser, url)

const status = statusPill

describe('demo editor over SSE in chromium', () => {
  it('edits together with a WebSocket page: text, cursors, names and head count both ways', async () => {
    const server = await startServer()
    const http = `http://127.0.0.1:${server.port}`
    const alice = await openPage(`${http}/?doc=mixed&transport=sse`)
    const bob = await openPage(`${http}/d/mixed`)
    await status(alice).and(alice.locator('[data-status="connected"]')).waitFor()
    await status(bob).and(bob.locator('[data-status="connected"]')).waitFor()
    expect(await status(alice).innerText()).toBe('Connected · SSE')
    expect(await status(alice).getAttribute('data-transport')).toBe('sse')
    expect(await status(bob).innerText()).toBe('Connected')
    expect(server.app.quire.registry.connections('mixed')).toBe(2)

    const aliceName = await alice.locator('[data-testid="my-name"]').inputValue()
    const bobName = await bob.locator('[data-testid="my-name"]').inputValue()
    await alice.locator('.cm-content').click()
    await alice.keyboard.type('Typed over SSE')
    await waitFor(async () => (await editorText(bob)) === 'Typed over SSE', "Alice's text in Bob's editor")
    await bob.locator('.cm-content').click()
    await bob.keyboard.press('Control+End')
    await bob.keyboard.type(', answered over WebSocket')
    await waitFor(async () => (await editorText(alice)) === 'Typed over SSE, answered over WebSocket', "Bob's text in Alice's editor")

    // Presence both ways: carets with names (shown only while they move: web-demo.test.ts), two people on each page.
    await bob.locator('.cm-ySelectionInfo', { hasText: aliceName }).waitFor({ state: 'attached' })
    await alice.locator('.cm-ySelectionInfo', { hasText: bobName }).waitFor({ state: 'attached' })
    for (const page of [alice, bob]) await page.locator('[data-testid="people-count"]', { hasText: /^2$/ }).waitFor()

    // A quick burst from the SSE page arrives whole and in order.
    await alice.keyboard.press('Control+End')
    await alice.keyboard.type(' — and more, quickly typed.', { delay: 5 })
    await waitFor(async () => (await editorText(bob)) === 'Typed over SSE, answered over WebSocket — and more, quickly typed.', 'the burst at Bob')
    await alice.screenshot({ path: SCREENSHOTS + 'editor-sse-alice.png' })

    // Alice leaves: Bob sees one person again.
    await alice.context().close()
    await bob.locator('[data-testid="people-count"]', { hasText: /^1$/ }).waitFor()
    expect(server.app.quire.registry.get('mixed')!.doc.getText('content').toString()).toBe('Typed over SSE, answered over WebSocket — and more, quickly typed.')
    for (const page of [alice, bob]) expect(pageErrors.get(page)).toEqual([])
    await bob.context().close()
  })

  it('keeps the transport in a fresh document link, and shows when the server goes away', async () => {
    const server = await startServer()
    const page = await openPage(`http://127.0.0.1:${server.port}/?transport=sse`)
    await status(page).and(page.locator('[data-status="connected"]')).waitFor()
    expect(new URL(page.url()).searchParams.get('transport')).toBe('sse')
    expect(new URL(page.url()).searchParams.get('doc')).toMatch(/^note-/)
    await server.close()
    await status(page).and(page.locator('[data-status="disconnected"]')).waitFor()
    expect(await status(page).innerText()).toBe('Offline · reconnecting · SSE')
    await page.context().close()
  })
})
