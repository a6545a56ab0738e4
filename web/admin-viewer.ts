/**
 * Fetch-and-show for the dashboard's export buttons when it was opened with a token. The REST
 * API takes tokens only in the Authorization header (a token in a URL ends up in access logs and
 * browser history), and a plain link cannot send one: so the page fetches with the header and
 * shows the answer here, JSON as text and a binary update as a download.
 */
import { element, formatBytes } from './common.js'

export class ExportViewer {
  private readonly dialog: HTMLDialogElement
  private readonly heading = element('h2', { class: 'viewer-title' })
  private readonly body = element('pre', { class: 'viewer-body', 'data-testid': 'viewer-body' })
  private readonly download = element('a', { class: 'button ghost', 'data-testid': 'viewer-download', hidden: '' }, 'Download')
  private objectUrl: string | undefined
  /** Answers to a click that was overtaken by a later one are dropped. */
  private request = 0

  constructor(private readonly token: string) {
    const close = element('button', { type: 'button', class: 'button ghost', 'data-testid': 'viewer-close' }, 'Close')
    close.addEventListener('click', () => this.dialog.close())
    this.dialog = element('dialog', { class: 'viewer', 'data-testid': 'viewer' },
      element('div', { class: 'viewer-head' }, this.heading, element('span', { class: 'spacer' }), this.download, close),
      this.body,
    )
    this.dialog.addEventListener('close', () => this.release())
    document.body.append(this.dialog)
  }

  /** Fetches `url` with the token and shows it; `file` names the download. */
  async show(url: string, title: string, file: string): Promise<void> {
    const request = ++this.request
    this.release()
    this.heading.textContent = title
    this.body.textContent = 'Loading…'
    this.dialog.dataset.state = 'loading'
    if (!this.dialog.open) this.dialog.showModal()
    try {
      const response = await fetch(url, { headers: { authorization: `Bearer ${this.token}` }, cache: 'no-store' })
      const blob = await response.blob()
      if (request !== this.request) return
      if (!response.ok) {
        const text = await blob.text()
        let message = text
        try {
          message = (JSON.parse(text) as { message?: string }).message ?? text
        } catch {
          // not JSON: show the text as it is
        }
        this.body.textContent = `HTTP ${response.status}: ${message}`
        this.dialog.dataset.state = 'error'
        return
      }
      const json = (response.headers.get('content-type') ?? '').includes('json')
      this.body.textContent = json ? pretty(await blob.text()) : `Binary Yjs update, ${formatBytes(blob.size)}: use Download to save it.`
      this.objectUrl = URL.createObjectURL(blob)
      this.download.href = this.objectUrl
      this.download.download = file
      this.download.hidden = false
      this.dialog.dataset.state = 'loaded'
    } catch (error) {
      if (request !== this.request) return
      this.body.textContent = `Could not reach the server: ${error instanceof Error ? error.message : String(error)}`
      this.dialog.dataset.state = 'error'
    }
  }

  private release(): void {
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl)
    this.objectUrl = undefined
    this.download.hidden = true
    this.download.removeAttribute('href')
  }
}

function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return text
  }
}
