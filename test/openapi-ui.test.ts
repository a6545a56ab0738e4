/**
 * The API docs page in a real browser, also under a basePath: the page must load its assets and
 * render the document (it used to be blank at `/collab/docs`, asking for `/docs/static/…`).
 */
import { existsSync } from 'node:fs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { chromium, type Browser } from 'playwright-core'
import { cleanup, startServer } from './helpers.js'

const CHROMIUM = '/usr/bin/chromium'
let browser: Browser

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`)
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})
afterAll(async () => browser?.close())
afterEach(cleanup)

describe('API docs page', () => {
  it.each([
    ['/', '/docs'],
    ['/collab', '/collab/docs'],
    ['/collab', '/collab/docs/'],
  ])('basePath %s: %s renders the API with its assets', async (basePath, path) => {
    const server = await startServer({ basePath })
    const page = await browser.newPage()
    const failed: string[] = []
    page.on('response', (response) => response.status() >= 400 && failed.push(`${response.status()} ${response.url()}`))
    await page.goto(`http://127.0.0.1:${server.port}${path}`)
    await page.locator('.swagger-ui .info .title').waitFor({ timeout: 10_000 })
    expect(await page.locator('.swagger-ui .info .title').innerText()).toMatch(/Quire/)
    expect(failed).toEqual([])
    await page.close()
  })
})

describe('OpenAPI security', () => {
  const spec = async (server: { port: number }) =>
    (await (await fetch(`http://127.0.0.1:${server.port}/openapi.json`)).json()) as { security?: unknown; components?: { securitySchemes?: unknown } }

  it('declares the bearer scheme only when authentication is on (no locks on an open server)', async () => {
    const open = await spec(await startServer())
    expect(open.security).toBeUndefined()
    expect(open.components?.securitySchemes).toBeUndefined()
    const secured = await spec(await startServer({ auth: { secret: 'a-test-secret-that-is-at-least-32-bytes-long' } }))
    expect(secured.security).toEqual([{ bearerAuth: [] }])
    expect(secured.components?.securitySchemes).toHaveProperty('bearerAuth')
  })
})
