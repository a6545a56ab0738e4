/**
 * The demo editor and the dashboard in a real browser (Debian's chromium through playwright-core):
 * two people on one document, each in their own browser context (no shared storage, and the page
 * disables BroadcastChannel), so everything they see of each other went through the server.
 * Screenshots land in test/screenshots/ (gitignored) for a human look.
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

describe('demo editor and dashboard in chromium', () => {
  it('syncs two people live, shows cursors, names, status and head count, and keeps text over a reload', async () => {
    const server = await startServer()
    const http = `http://127.0.0.1:${server.port}`
    const alice = await openPage(`${http}/?doc=hello`)
    const bob = await openPage(`${http}/d/hello`)
    for (const page of [alice, bob]) {
      await status(page).and(page.locator('[data-status="connected"]')).waitFor()
      expect(await status(page).innerText()).toBe('Connected')
      expect(await page.locator('[data-testid="doc-name"]').innerText()).toBe('hello')
    }

    const aliceName = await alice.locator('[data-testid="my-name"]').inputValue()
    await alice.locator('.cm-content').click()
    await alice.keyboard.type('Meeting notes')
    await alice.keyboard.press('Enter')
    await alice.keyboard.type('- ship the dashboard')
    await waitFor(async () => (await editorText(bob)).includes('- ship the dashboard'), "Alice's text in Bob's editor")
    expect(await editorText(bob)).toBe('Meeting notes\n- ship the dashboard')

    // Bob sees Alice's caret with her name (shown while it moves: web-demo.test.ts), and both count two people.
    await bob.locator('.cm-ySelectionInfo', { hasText: aliceName }).waitFor({ state: 'attached' })
    for (const page of [alice, bob]) {
      await page.locator('[data-testid="people-count"]', { hasText: /^2$/ }).waitFor()
      expect(await page.locator('[data-testid="people-noun"]').innerText()).toBe('people')
    }

    // Bob renames himself; Alice sees the new name on his avatar and his caret.
    await bob.locator('[data-testid="my-name"]').fill('Bob Builder')
    await bob.locator('[data-testid="my-name"]').press('Enter')
    await bob.keyboard.press('Control+End')
    await bob.keyboard.type(' (on it)')
    await alice.locator('.avatar[data-name="Bob Builder"]').waitFor()
    await alice.locator('.cm-ySelectionInfo', { hasText: 'Bob Builder' }).waitFor({ state: 'attached' })
    await waitFor(async () => (await editorText(alice)).endsWith('(on it)'), "Bob's edit in Alice's editor")

    await alice.screenshot({ path: SCREENSHOTS + 'editor-alice.png' })
    await bob.screenshot({ path: SCREENSHOTS + 'editor-bob.png' })

    // The dashboard lists the room with both connections, and follows Bob leaving.
    const admin = await openPage(`${http}/admin`)
    const row = admin.locator('tr[data-room="hello"]')
    await row.locator('[data-col="connections"]', { hasText: /^2$/ }).waitFor()
    await admin.locator('[data-total="connections"]', { hasText: /^2$/ }).waitFor()
    expect(await row.locator('a.doc-link').getAttribute('href')).toBe('/d/hello')
    expect(await row.locator('a.chip').evaluateAll((links) => links.map((a) => a.getAttribute('href'))))
      .toEqual(['/api/docs/hello/json', '/api/docs/hello/update'])
    await admin.screenshot({ path: SCREENSHOTS + 'dashboard.png' })
    await bob.context().close()
    await row.locator('[data-col="connections"]', { hasText: /^1$/ }).waitFor()
    await alice.locator('[data-testid="people-count"]', { hasText: /^1$/ }).waitFor()

    // Alice was the last one in: her reload unloads the document and loads it back from disk.
    await alice.reload()
    await status(alice).and(alice.locator('[data-status="connected"]')).waitFor()
    expect(await editorText(alice)).toBe('Meeting notes\n- ship the dashboard (on it)')
    expect(server.app.quire.registry.loads).toBeGreaterThanOrEqual(2)
    await alice.context().close()
    await admin.locator('[data-testid="empty"]').waitFor({ state: 'visible' })
    await admin.screenshot({ path: SCREENSHOTS + 'dashboard-empty.png' })
    for (const page of [alice, bob, admin]) expect(pageErrors.get(page)).toEqual([])
    await admin.context().close()
  })

  it('opens documents with any name from /d/<name>, and shows when the server goes away', async () => {
    const server = await startServer()
    const name = 'team/50% done ü?'
    const page = await openPage(`http://127.0.0.1:${server.port}/d/${encodeURIComponent(name)}`)
    await status(page).and(page.locator('[data-status="connected"]')).waitFor()
    expect(await page.locator('[data-testid="doc-name"]').innerText()).toBe(name)
    expect(server.app.quire.registry.names()).toEqual([name])

    await server.close()
    await status(page).and(page.locator('[data-status="disconnected"]')).waitFor()
    expect(await status(page).innerText()).toBe('Offline · reconnecting')
    await page.screenshot({ path: SCREENSHOTS + 'editor-offline.png' })
    await page.context().close()
  })
})
