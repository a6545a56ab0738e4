/**
 * A Tiptap editor (`@tiptap/extension-collaboration` over `@hocuspocus/provider`, the Hocuspocus
 * protocol on the base path) and the CodeMirror demo page (y-websocket on `/<doc>`) in Chromium,
 * on one Quire document. The two editors bind different shared types of the same Y.Doc — Tiptap
 * the XmlFragment `default`, CodeMirror the Y.Text `content` — so "together" here means: one room,
 * one Y.Doc, each page receiving the other's keystrokes and presence through the server, with a
 * Node y-websocket client watching too. The Tiptap page (test/pages/) is bundled here by esbuild
 * and served from a static server of its own; the demo page comes from `npm run build` (dist/web).
 */
import { createServer, type Server } from 'node:http'
import { mkdtemp, readFile, rm, copyFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import * as Y from 'yjs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { editorText, launchChromium, openPage, pageErrors, statusPill } from './chromium.js'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'

const PAGES = fileURLToPath(new URL('./pages/', import.meta.url))
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SCREENSHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url))
/** Tiptap's Collaboration field (its default) and the demo page's Y.Text (web/demo.ts). */
const FIELD = 'default'
const TEXT = 'content'

let browser: Browser
let outDir: string
let pages: Server
let pagesUrl: string
/** The bundle's inputs: the test checks Yjs came in once. */
let bundleInputs: string[]

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'quire-tiptap-page-'))
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [join(PAGES, 'tiptap.ts')],
    outdir: outDir,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    metafile: true,
    logLevel: 'warning',
  })
  bundleInputs = Object.keys(result.metafile.inputs)
  await copyFile(join(PAGES, 'tiptap.html'), join(outDir, 'tiptap.html'))
  const types: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8' }
  pages = createServer((request, response) => {
    const file = basename(new URL(request.url ?? '/', 'http://x').pathname)
    readFile(join(outDir, file)).then(
      (body) => response.writeHead(200, { 'content-type': types[file.split('.').pop() ?? ''] ?? 'application/octet-stream' }).end(body),
      () => response.writeHead(404).end(),
    )
  })
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve))
  pagesUrl = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`
  await mkdir(SCREENSHOTS, { recursive: true })
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
  pages?.closeAllConnections()
  await new Promise((resolve) => (pages ? pages.close(resolve) : resolve(undefined)))
  if (outDir) await rm(outDir, { recursive: true, force: true })
})
afterEach(cleanup)

interface TiptapWindow {
  tiptap: {
    ydoc: Y.Doc
    provider: { awareness: { getStates(): Map<number, { user?: { name?: string } }> } }
    editor: { getText(options: { blockSeparator: string }): string }
  }
}
interface DemoWindow {
  quire: { doc: Y.Doc }
}

/** What the Tiptap page's Y.Doc holds: its fragment (as Yjs prints it) and the demo's text. */
const tiptapDoc = (page: Page) =>
  page.evaluate(([field, text]) => {
    const { ydoc } = (globalThis as unknown as TiptapWindow).tiptap
    return { fragment: ydoc.getXmlFragment(field).toString(), text: ydoc.getText(text).toString() }
  }, [FIELD, TEXT] as const)
/** The same, read from the demo page's Y.Doc. */
const demoDoc = (page: Page) =>
  page.evaluate(([field, text]) => {
    const { doc } = (globalThis as unknown as DemoWindow).quire
    return { fragment: doc.getXmlFragment(field).toString(), text: doc.getText(text).toString() }
  }, [FIELD, TEXT] as const)
/** The text the Tiptap editor shows, one line per paragraph. */
const tiptapText = (page: Page) => page.evaluate(() => (globalThis as unknown as TiptapWindow).tiptap.editor.getText({ blockSeparator: '\n' }))
/** The names in the Tiptap provider's awareness. */
const tiptapSees = (page: Page) =>
  page.evaluate(() => [...(globalThis as unknown as TiptapWindow).tiptap.provider.awareness.getStates().values()].map((state) => state.user?.name ?? ''))

const paragraphs = (...lines: string[]) => lines.map((line) => `<paragraph>${line}</paragraph>`).join('')

describe('Tiptap (Hocuspocus) and the CodeMirror demo (y-websocket) in chromium', () => {
  it('edit one document together: keystrokes, remote edits and presence cross both ways, and the result is stored', async () => {
    // One copy of Yjs in the page: two would break Yjs' constructor checks between the editor and the provider.
    const yjsCopies = new Set(bundleInputs.filter((input) => /(^|\/)node_modules\/yjs\//.test(input)).map((input) => input.replace(/node_modules\/yjs\/.*$/, '')))
    expect(yjsCopies).toEqual(new Set(['']))

    const server = await startServer()
    const name = 'team/tiptap meets codemirror'
    const watcher = connect(server.url, encodeURIComponent(name).replace(/%2F/g, '/'))
    await synced(watcher)
    const watched = () => ({ fragment: watcher.doc.getXmlFragment(FIELD).toString(), text: watcher.doc.getText(TEXT).toString() })

    const demo = await openPage(browser, `http://127.0.0.1:${server.port}/?doc=${encodeURIComponent(name)}`)
    await statusPill(demo).and(demo.locator('[data-status="connected"]')).waitFor()
    const tiptapUrl = `${pagesUrl}/tiptap.html?ws=${encodeURIComponent(server.url)}&doc=${encodeURIComponent(name)}`
    const tiptap = await openPage(browser, tiptapUrl)
    await tiptap.locator('[data-testid="status"][data-synced="true"]').waitFor()
    expect(server.app.quire.registry.names()).toEqual([name])

    // Tiptap → the y-websocket watcher and the demo page.
    await tiptap.locator('.ProseMirror').click()
    await tiptap.keyboard.type('Hello from Tiptap')
    await tiptap.keyboard.press('Enter')
    await tiptap.keyboard.type('second line')
    const fromTiptap = paragraphs('Hello from Tiptap', 'second line')
    await waitFor(() => watched().fragment === fromTiptap, "Tiptap's paragraphs at the y-websocket watcher")
    await waitFor(async () => (await demoDoc(demo)).fragment === fromTiptap, "Tiptap's paragraphs in the demo page's Y.Doc")

    // CodeMirror → the Tiptap page's Y.Doc and the watcher.
    await demo.locator('.cm-content').click()
    await demo.keyboard.type('Hello from CodeMirror')
    await waitFor(async () => (await tiptapDoc(tiptap)).text === 'Hello from CodeMirror', "CodeMirror's text in the Tiptap page's Y.Doc")
    await waitFor(() => watched().text === 'Hello from CodeMirror', "CodeMirror's text at the watcher")

    // A y-websocket client edits Tiptap's fragment: the Tiptap editor shows it.
    const added = new Y.XmlElement('paragraph')
    added.insert(0, [new Y.XmlText('from y-websocket')])
    watcher.doc.getXmlFragment(FIELD).push([added])
    await waitFor(async () => (await tiptapText(tiptap)) === 'Hello from Tiptap\nsecond line\nfrom y-websocket', "the watcher's paragraph in the Tiptap editor")

    // Both type at once, each into its own editor: every copy of the document converges.
    await Promise.all([tiptap.keyboard.type(' (tiptap typing)'), demo.keyboard.type(' (codemirror typing)')])
    const converged = async () => {
      const [a, b, c] = [await tiptapDoc(tiptap), await demoDoc(demo), watched()]
      return a.fragment === b.fragment && b.fragment === c.fragment && a.text === b.text && b.text === c.text &&
        a.fragment.includes('(tiptap typing)') && a.text.endsWith('(codemirror typing)')
    }
    await waitFor(converged, 'the Tiptap page, the demo page and the watcher to converge')
    expect(await editorText(demo)).toBe('Hello from CodeMirror (codemirror typing)')
    const finalText = await tiptapText(tiptap)
    expect(finalText).toContain('(tiptap typing)')
    expect(finalText.split('\n')).toHaveLength(3)

    // Presence both ways: the demo's person in Tiptap's awareness, Tiptap's user among the demo's avatars.
    const demoName = await demo.locator('[data-testid="my-name"]').inputValue()
    await waitFor(async () => (await tiptapSees(tiptap)).includes(demoName), "the demo page's person in the Tiptap provider's awareness")
    await demo.locator('.avatar[data-name="Tiptap"]').waitFor()
    await demo.locator('[data-testid="people-count"]', { hasText: /^2$/ }).waitFor()
    await tiptap.screenshot({ path: SCREENSHOTS + 'tiptap.png' })
    await demo.screenshot({ path: SCREENSHOTS + 'tiptap-demo.png' })

    // A new Tiptap page loads what was typed from the server and shows it.
    const later = await openPage(browser, tiptapUrl.replace('doc=', 'user=Later&doc='))
    await later.locator('[data-testid="status"][data-synced="true"]').waitFor()
    await waitFor(async () => (await tiptapText(later)) === finalText, 'the stored paragraphs in a new Tiptap editor')
    expect((await tiptapDoc(later)).text).toBe('Hello from CodeMirror (codemirror typing)')

    for (const page of [tiptap, demo, later]) {
      expect(pageErrors.get(page)).toEqual([])
      await page.context().close()
    }
  })
})
