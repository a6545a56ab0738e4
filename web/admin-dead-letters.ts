/**
 * The dashboard's change-event panel (docs/events.md): whether change events are on, how many
 * deliveries wait in the outbox, and the dead letters — events an endpoint refused until the
 * retry schedule ran out, or answered 410 to — each with a Redeliver button.
 *
 * It reads the admin REST API (`GET /api/events`, `GET /api/events/dead-letters`), which takes
 * the page's token only in the Authorization header. `GET /api/events` answers even with events
 * off, so "off" is an answer rather than a failed request. Polled every few seconds: dead letters
 * are rare and change slowly, and the live feed stays about rooms.
 */
import { element, formatAgo } from './common.js'

/** Mirrors the dead-letter view in src/http/events-routes.ts. */
interface DeadLetter {
  sink: string
  key: number
  eventId: string
  attempts: number
  lastError?: string
  createdAt: string
  event: { type?: string; data?: { name?: string } }
}

interface EventsState {
  enabled: boolean
  outbox?: { records: number; oldestCreatedAt?: string }
}

const REFRESH_MS = 5000

export class DeadLetterPanel {
  private readonly rows: HTMLElement
  private readonly table: HTMLTableElement
  private readonly empty: HTMLElement
  private readonly note: HTMLElement
  /** A refresh under way; a timer tick meanwhile is skipped rather than piled up. */
  private refreshing: Promise<void> | null = null

  constructor(
    private readonly panel: HTMLElement,
    private readonly api: string,
    private readonly token: string | null,
  ) {
    this.rows = panel.querySelector<HTMLElement>('[data-testid="dead-letters"]')!
    this.table = this.rows.closest('table')!
    this.empty = panel.querySelector<HTMLElement>('[data-testid="dead-letters-empty"]')!
    this.note = panel.querySelector<HTMLElement>('[data-testid="outbox-note"]')!
  }

  start(): void {
    void this.refresh()
    setInterval(() => void this.refresh(), REFRESH_MS)
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.load().finally(() => (this.refreshing = null))
    return this.refreshing
  }

  private async load(): Promise<void> {
    try {
      const state = await this.get<EventsState>('events')
      if (!state.enabled) return this.show('off', 'change events off', 'Change events are off: start the server with --webhook-url or --nats-url to send them.')
      const dead = await this.get<DeadLetter[]>('events/dead-letters')
      const waiting = state.outbox?.records ?? 0
      const oldest = state.outbox?.oldestCreatedAt
      const note = `${waiting} waiting in the outbox${waiting > 0 && oldest ? `, oldest ${formatAgo(Date.parse(oldest))}` : ''}`
      if (dead.length === 0) return this.show('empty', note, 'No dead letters: every event was delivered or is still being tried.')
      this.rows.replaceChildren(...dead.map((letter) => this.row(letter)))
      this.show('listed', `${dead.length} dead · ${note}`)
    } catch (error) {
      this.show('error', error instanceof Error ? error.message : String(error))
    }
  }

  /** Shows the table (`listed`) or the message instead of it. */
  private show(state: 'off' | 'empty' | 'listed' | 'error', note: string, message = ''): void {
    this.panel.dataset.state = state
    this.note.textContent = note
    this.table.hidden = state !== 'listed'
    this.empty.hidden = state === 'listed' || message === ''
    this.empty.querySelector('p')!.textContent = message
    if (state !== 'listed') this.rows.replaceChildren()
  }

  private row(letter: DeadLetter): HTMLElement {
    const button = element('button', { type: 'button', class: 'button ghost small', 'data-action': 'redeliver' }, 'Redeliver')
    const row = element('tr', { 'data-event-id': letter.eventId, 'data-sink': letter.sink },
      element('td', { 'data-col': 'sink' }, element('span', { class: 'chip' }, letter.sink)),
      element('td', { 'data-col': 'type' }, letter.event.type ?? '?'),
      element('td', { 'data-col': 'document', class: 'doc-name' }, letter.event.data?.name ?? ''),
      element('td', { class: 'num', 'data-col': 'attempts' }, String(letter.attempts)),
      element('td', { 'data-col': 'error', class: 'error-text' }, letter.lastError ?? ''),
      element('td', { 'data-col': 'time', title: letter.createdAt }, formatAgo(Date.parse(letter.createdAt))),
      element('td', {}, button),
    )
    button.addEventListener('click', () => void this.redeliver(letter, button))
    return row
  }

  private async redeliver(letter: DeadLetter, button: HTMLButtonElement): Promise<void> {
    button.disabled = true
    button.textContent = 'Sending…'
    try {
      const path = `events/dead-letters/${encodeURIComponent(letter.sink)}/${letter.key}/redeliver`
      // JSON with a body: the REST API refuses bodiless POSTs a cross-site form could send.
      const response = await fetch(this.api + path, { method: 'POST', headers: { ...this.auth(), 'content-type': 'application/json' }, body: '{}' })
      if (!response.ok && response.status !== 404) throw new Error(await errorText(response))
      // 404: someone redelivered it already. Either way it is no dead letter any more.
      button.closest('tr')?.remove()
      await this.refreshing // one that started before the redelivery may still list it
      await this.refresh()
    } catch (error) {
      button.disabled = false
      button.textContent = 'Redeliver'
      button.title = error instanceof Error ? error.message : String(error)
    }
  }

  private async get<T>(path: string): Promise<T> {
    const response = await fetch(this.api + path, { headers: this.auth(), cache: 'no-store' })
    if (!response.ok) throw new Error(await errorText(response))
    return (await response.json()) as T
  }

  private auth(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {}
  }
}

/** The REST error's message, for the panel note. */
async function errorText(response: Response): Promise<string> {
  const text = await response.text()
  try {
    return `HTTP ${response.status}: ${(JSON.parse(text) as { message?: string }).message ?? text}`
  } catch {
    return `HTTP ${response.status}: ${text}`
  }
}
