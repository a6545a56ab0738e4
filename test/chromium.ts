/**
 * Chromium for the page tests (Debian's chromium through playwright-core): one browser per test
 * file, each page in a browser context of its own (no shared storage), with its uncaught errors
 * and console errors recorded.
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'

const CHROMIUM = '/usr/bin/chromium'

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`)
  // playwright gives every launch a fresh temporary profile (it refuses --user-data-dir in args).
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}

export const pageErrors = new WeakMap<Page, string[]>()

export interface OpenOptions {
  viewport?: { width: number; height: number }
  /** Set up the context before the page loads (routes, for instance). */
  prepare?: (page: Page) => Promise<void>
}

export async function openPage(browser: Browser, url: string, options: OpenOptions = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 760 } })
  context.setDefaultTimeout(8_000) // fail at the step that hangs, well inside the test timeout
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(error.message))
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()))
  pageErrors.set(page, errors)
  await options.prepare?.(page)
  await page.goto(url)
  return page
}

/** The editor's text (innerText would include the remote carets' name tags). */
export const editorText = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { quire: { view: { state: { doc: { toString(): string } } } } }).quire.view.state.doc.toString())

export const statusPill = (page: Page) => page.locator('[data-testid="status"]')
