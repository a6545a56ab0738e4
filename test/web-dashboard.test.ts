/**
 * The dashboard in Chromium with authentication on (opened with an admin token, every link and
 * export it offers works), its five-minute charts, and who is connected to each document; and
 * the feed behind them: history in a stream's first message, people grouped by subject.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'
import { SECRET, closeClients, providerWith, sign } from './auth-helpers.js'
import { editorText, launchChromium, openPage, pageErrors, statusPill } from './chromium.js'

let browser: Browser
beforeAll(async () => {
  browser = await launchChromium()
})
afterAll(async () => browser?.close())
afterEach(async () => {
  closeClients()
  await cleanup()
})

const statusOf = (page: Page, href: string) => page.evaluate(async (url) => (await fetch(url)).status, href)

describe('dashboard in chromium', () => {
  it('with authentication on, carries the admin token: every link and export answers 200', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const http = `http://127.0.0.1:${server.port}`
    const alice = providerWith(server.url, 'team/spec', await sign({ claims: { sub: 'alice', docs: { 'team/*': 'write' } } }))
    const bob = providerWith(server.url, 'team/spec', await sign({ claims: { sub: 'bob', docs: { 'team/*': 'read' } } }))
    await Promise.all([synced(alice), synced(bob)])
    alice.doc.getText('content').insert(0, 'Spec draft')

    const token = await sign({ claims: { sub: 'ops', role: 'admin' } })
    const admin = await openPage(browser, `${http}/admin?token=${encodeURIComponent(token)}`)
    const row = admin.locator('tr[data-room="team/spec"]')
    await row.locator('[data-col="connections"]', { hasText: /^2$/ }).waitFor()
    await row.locator('[data-col="size"]', { hasText: /B$/ }).waitFor() // the text is stored

    // Who is connected, by subject, the reader marked.
    await row.locator('.person[data-subject="alice"]').waitFor()
    expect(await row.locator('.person[data-subject="bob"]').getAttribute('class')).toContain('read-only')

    // Every link: answers 200, and those opening Quire's pages carry the token.
    const links = await admin.locator('a[href]').evaluateAll((as) => as.map((a) => (a as unknown as { href: string }).href))
    expect(links.length).toBeGreaterThanOrEqual(4) // brand, document, demo, /metrics
    for (const href of links) {
      expect(await statusOf(admin, href), href).toBe(200)
      const url = new URL(href)
      if (url.pathname === '/' || url.pathname.startsWith('/d/')) expect(url.searchParams.get('token'), href).toBe(token)
    }
    // The REST API takes no token in the URL, so exports are fetched with the header instead of linked.
    expect(links.filter((href) => new URL(href).pathname.startsWith('/api/'))).toEqual([])
    const inUrl = await fetch(`${http}/api/docs/team%2Fspec/json?token=${encodeURIComponent(token)}`)
    expect(inUrl.status).toBe(401)
    await inUrl.arrayBuffer()

    const exports = row.locator('button[data-fetch]')
    expect(await exports.count()).toBe(2)
    const viewer = admin.locator('[data-testid="viewer"]')
    for (const [label, expected] of [['JSON', '"content": "Spec draft"'], ['Yjs update', 'Binary Yjs update']] as const) {
      const url = http + (await exports.filter({ hasText: label }).getAttribute('data-fetch'))!
      const [response] = await Promise.all([admin.waitForResponse((r) => r.url() === url), exports.filter({ hasText: label }).click()])
      expect(response.status(), label).toBe(200)
      await viewer.and(admin.locator('[data-state="loaded"]')).waitFor()
      expect(await admin.locator('[data-testid="viewer-body"]').innerText()).toContain(expected)
      const download = await admin.locator('[data-testid="viewer-download"]').getAttribute('href')
      expect(download).toMatch(/^blob:/)
      expect(await statusOf(admin, download!)).toBe(200)
      await admin.locator('[data-testid="viewer-close"]').click()
      await viewer.waitFor({ state: 'hidden' })
    }

    // The document link opens an editor that the token lets in.
    const editorLink = await row.locator('a.doc-link').getAttribute('href')
    const editor = await openPage(browser, http + editorLink)
    await statusPill(editor).and(editor.locator('[data-status="connected"]')).waitFor()
    expect(await statusPill(editor).innerText()).toBe('Connected')
    expect(await editorText(editor)).toBe('Spec draft')
    await admin.screenshot({ path: new URL('./screenshots/dashboard-auth.png', import.meta.url).pathname })
    expect(pageErrors.get(admin)).toEqual([])
    for (const page of [admin, editor]) await page.context().close()
  })

  it('draws the last minutes as charts, and keeps them over a reload', async () => {
    const server = await startServer()
    const http = `http://127.0.0.1:${server.port}`
    const a = connect(server.url, 'busy')
    const b = connect(server.url, 'busy')
    await Promise.all([synced(a), synced(b)])
    const typing = setInterval(() => a.doc.getText('t').insert(0, 'x'), 50)
    try {
      const admin = await openPage(browser, `${http}/admin`)
      const points = (chart: string) => admin.locator(`[data-chart="${chart}"] svg`).getAttribute('data-points').then(Number)
      const charts = ['connections', 'updates', 'bytes', 'loop']
      for (const chart of charts) await expect.poll(() => points(chart), { timeout: 10_000 }).toBeGreaterThanOrEqual(3)
      for (const chart of charts) expect(await admin.locator(`[data-chart="${chart}"] svg path`).first().getAttribute('d')).toMatch(/^M[\d.]+ [\d.]+ L/)
      expect(await admin.locator('[data-chart="connections"] .chart-value').innerText()).toBe('2')
      await expect.poll(() => admin.locator('[data-chart="updates"] .chart-value').innerText().then(Number)).toBeGreaterThan(0)
      expect(await admin.locator('[data-chart="bytes"] path').count()).toBe(2) // in and out
      await admin.screenshot({ path: new URL('./screenshots/dashboard-charts.png', import.meta.url).pathname })

      // The server kept the samples: a reloaded dashboard starts with them.
      const before = await points('connections')
      await admin.reload()
      await admin.locator('[data-chart="connections"] svg[data-points]').waitFor({ state: 'attached' })
      expect(await points('connections')).toBeGreaterThanOrEqual(before)
      expect(pageErrors.get(admin)).toEqual([])
      await admin.context().close()
    } finally {
      clearInterval(typing)
    }
  })
})

describe('dashboard feed', () => {
  it('sends the history in the first message only, and each snapshot its sample', async () => {
    const server = await startServer()
    const messages: Array<{ at: number; sample?: { at: number; connections: number; loopDelayMs: number }; history?: unknown[] }> = []
    const abort = new AbortController()
    const read = (async () => {
      const response = await fetch(`http://127.0.0.1:${server.port}/admin/events`, { signal: abort.signal })
      const decoder = new TextDecoder()
      let buffer = ''
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true })
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const data = buffer.slice(0, end).split('\n').find((line) => line.startsWith('data: '))
          buffer = buffer.slice(end + 2)
          if (data) messages.push(JSON.parse(data.slice(6)))
        }
      }
    })().catch(() => {})
    const c = connect(server.url, 'sampled')
    await synced(c)
    await waitFor(() => messages.length >= 3, 'three snapshots')
    abort.abort()
    await read
    expect(messages[0]!.history).toEqual([messages[0]!.sample])
    for (const message of messages.slice(1)) {
      expect(message.history).toBeUndefined()
      expect(message.sample!.at).toBe(message.at)
      expect(message.sample!.loopDelayMs).toBeGreaterThanOrEqual(0)
    }
    expect(messages.at(-1)!.sample!.connections).toBe(1)
  })
})
