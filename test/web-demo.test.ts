/**
 * The demo editor in Chromium where a new user meets its rough edges: a read-only token, a
 * refused token, a phone-sized screen, and remote name labels that should not cover the text.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { cleanup, startServer, synced, waitFor } from './helpers.js'
import { SECRET, closeClients, providerWith, sign } from './auth-helpers.js'
import { editorText, launchChromium, openPage, statusPill } from './chromium.js'

let browser: Browser
beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => browser?.close())
afterEach(async () => {
  closeClients()
  await cleanup()
})

const content = (page: Page) => page.locator('.cm-content')
const connected = (page: Page) => statusPill(page).and(page.locator('[data-status="connected"]')).waitFor()
const pageUrl = (port: number, doc: string, token: string) => `http://127.0.0.1:${port}/?doc=${encodeURIComponent(doc)}&token=${encodeURIComponent(token)}`

describe('demo editor: access', () => {
  it('turns read-only for a read-only token: says so, takes no typing, still follows the writers', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const writer = providerWith(server.url, 'team/handbook', await sign({ claims: { sub: 'writer', docs: { 'team/*': 'write' } } }))
    await synced(writer)
    writer.doc.getText('content').insert(0, 'Handbook v1')

    const reader = await sign({ claims: { sub: 'reader', docs: { 'team/*': 'write', 'team/handbook': 'read' } } })
    const page = await openPage(browser, pageUrl(server.port, 'team/handbook', reader))
    await connected(page)
    await waitFor(async () => (await editorText(page)) === 'Handbook v1', 'the stored text in the page')
    expect(await statusPill(page).innerText()).toBe('Read-only')
    expect(await page.locator('[data-testid="saved"]').innerText()).toMatch(/^Read-only/)
    expect(await content(page).getAttribute('contenteditable')).toBe('false')

    await content(page).click()
    await page.keyboard.type('dropped? ')
    await page.keyboard.press('Enter')
    // A writer's edit arrives after the typing: had the typing gone in, it would show here too.
    writer.doc.getText('content').insert(11, ' v2')
    await waitFor(async () => (await editorText(page)).includes('v2'), "the writer's edit in the read-only page")
    expect(await editorText(page)).toBe('Handbook v1 v2')
    expect(writer.doc.getText('content').toString()).toBe('Handbook v1 v2')
    await page.context().close()
  })

  // The page asks the server for its access (REST, 401/403) and the connection is refused too
  // (4401/4403): each is tested alone, the other held back — the WebSocket answered by a stand-in
  // that never replies, or the access check failed, as when the REST API is off or unreachable.
  const refusals: Array<{ kind: string; expiresIn: number; docs: Record<string, string>; code: string; text: string }> = [
    { kind: 'expired', expiresIn: -60, docs: { '*': 'write' }, code: '4401', text: 'Access refused: token expired' },
    { kind: 'forbidden', expiresIn: 600, docs: { 'other/*': 'write' }, code: '4403', text: 'Access refused: no access to this document' },
  ]
  for (const refusal of refusals) {
    for (const via of ['access check', 'connection close'] as const) {
      it(`says access was refused for a ${refusal.kind} token (${via}) and locks the editor`, async () => {
        const server = await startServer({ auth: { secret: SECRET } })
        const token = await sign({ claims: { docs: refusal.docs }, expiresIn: refusal.expiresIn })
        const page = await openPage(browser, pageUrl(server.port, 'team/spec', token), {
          prepare: async (p) => {
            if (via === 'connection close') await p.route('**/access', (route) => route.abort())
            else await p.routeWebSocket(/.*/, () => {}) // open, silent: never synced, never refused
          },
        })
        const code = via === 'access check' ? refusal.code.replace(/^44/, '4') : refusal.code
        await statusPill(page).and(page.locator(`[data-refused="${code}"]`)).waitFor()
        expect(await statusPill(page).getAttribute('data-status')).toBe('disconnected')
        expect(await statusPill(page).innerText()).toBe(refusal.text)
        expect(await content(page).getAttribute('contenteditable')).toBe('false')
        await content(page).click()
        await page.keyboard.type('lost words')
        expect(await editorText(page)).toBe('')
        await page.context().close()
      })
    }
  }

  it('says so when the token expires during the session, and stops taking edits', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const token = await sign({ claims: { docs: { '*': 'write' } }, expiresIn: 4 })
    const page = await openPage(browser, pageUrl(server.port, 'short-lived', token))
    await connected(page)
    expect(await statusPill(page).innerText()).toBe('Connected')
    expect(await content(page).getAttribute('contenteditable')).toBe('true')
    await statusPill(page).and(page.locator('[data-refused="4401"]')).waitFor({ timeout: 10_000 })
    expect(await statusPill(page).innerText()).toBe('Access refused: token expired')
    expect(await content(page).getAttribute('contenteditable')).toBe('false')
    await page.context().close()
  })
})

describe('demo editor: layout and cursors', () => {
  it('keeps the document name readable and "Copy link" on screen at 390 px wide', async () => {
    const server = await startServer()
    const viewport = { width: 390, height: 844 }
    const page = await openPage(browser, `http://127.0.0.1:${server.port}/d/quarterly-planning-notes`, { viewport })
    await connected(page)
    const name = await page.locator('[data-testid="doc-name"]').boundingBox()
    expect(name!.width).toBeGreaterThanOrEqual(120)
    const share = page.locator('[data-testid="share"]')
    expect(await share.isVisible()).toBe(true)
    for (const box of [await share.boundingBox(), await statusPill(page).boundingBox(), name]) {
      expect(box!.x).toBeGreaterThanOrEqual(0)
      expect(box!.y).toBeGreaterThanOrEqual(0)
      expect(box!.x + box!.width).toBeLessThanOrEqual(viewport.width)
      expect(box!.y + box!.height).toBeLessThanOrEqual(viewport.height)
    }
    // Nothing pushes the page sideways.
    expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width)
    await page.screenshot({ path: new URL('./screenshots/editor-390.png', import.meta.url).pathname })
    await page.context().close()
  })

  it('shows a remote name label when that cursor moves or is hovered, and hides it again', async () => {
    const server = await startServer()
    const alice = await openPage(browser, `http://127.0.0.1:${server.port}/d/labels`)
    const bob = await openPage(browser, `http://127.0.0.1:${server.port}/d/labels`)
    for (const page of [alice, bob]) await connected(page)
    const aliceName = await alice.locator('[data-testid="my-name"]').inputValue()
    const label = bob.locator('.cm-ySelectionInfo', { hasText: aliceName })

    await content(alice).click()
    await alice.keyboard.type('Line one')
    await alice.keyboard.press('Enter')
    await alice.keyboard.type('Line two')
    await expect.poll(() => label.isVisible(), { timeout: 5_000 }).toBe(true)
    // Gone within a few seconds of the last move, while Alice's caret stays.
    await expect.poll(() => label.isVisible(), { timeout: 6_000, interval: 100 }).toBe(false)
    expect(await bob.locator('.cm-ySelectionCaret').count()).toBe(1)

    await alice.keyboard.press('Home')
    await expect.poll(() => label.isVisible(), { timeout: 5_000 }).toBe(true)
    await expect.poll(() => label.isVisible(), { timeout: 6_000, interval: 100 }).toBe(false)

    // The caret is 2 px wide: point at it (locator.hover() aims where the caret's :hover does not take).
    const caret = (await bob.locator('.cm-ySelectionCaret').boundingBox())!
    await bob.mouse.move(caret.x + caret.width / 2, caret.y + caret.height / 2)
    await expect.poll(() => label.isVisible(), { timeout: 5_000 }).toBe(true)
    await bob.mouse.move(5, 5)
    await expect.poll(() => label.isVisible(), { timeout: 5_000 }).toBe(false)
    for (const page of [alice, bob]) await page.context().close()
  })
})
