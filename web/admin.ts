/**
 * The admin dashboard: loaded documents (with who is connected) and server totals, pushed by
 * the server every second over Server-Sent Events (EventSource reconnects by itself when the
 * server restarts), charts of the last five minutes, and the change events' dead letters
 * (admin-dead-letters.ts).
 *
 * With authentication on it is opened as `/admin?token=<admin JWT>`, and everything it links to
 * or fetches carries that token the way its target takes it: `?token=` for its event stream
 * and the demo editor (which accept it there), the Authorization header for the REST API
 * (which does not: see admin-viewer.ts).
 */
import { basePath, element, formatAgo, formatBytes, formatDuration, setStatus } from './common.js'
import { roomPath } from './doc-name.js'
import { Charts, type Sample } from './admin-charts.js'
import { ExportViewer } from './admin-viewer.js'
import { DeadLetterPanel } from './admin-dead-letters.js'
import './admin.css'

/** Mirrors AdminSnapshot in src/http/admin-feed.ts. */
interface Snapshot {
  at: number
  uptimeSeconds: number
  rssBytes: number
  totals: { connections: number; rooms: number; updatesPerSecond: number; bytesIn: number; bytesOut: number }
  rooms: Array<{
    name: string
    connections: number
    people?: Array<{ subject: string | null; readOnly: boolean; connections: number }>
    bytes: number
    updatesPerSecond: number
    lastChange: number | null
  }>
  sample?: Sample
  history?: Sample[]
}
type Room = Snapshot['rooms'][number]

const base = basePath()
const rows = document.querySelector<HTMLElement>('[data-testid="rooms"]')!
const empty = document.querySelector<HTMLElement>('[data-testid="empty"]')!
const note = document.querySelector<HTMLElement>('[data-testid="rooms-note"]')!
const status = document.querySelector<HTMLElement>('[data-testid="feed-status"]')!
const total = (key: string) => document.querySelector<HTMLElement>(`[data-total="${key}"]`)!
const previousConnections = new Map<string, number>()
const charts = new Charts(document.querySelector<HTMLElement>('[data-testid="charts"]')!)

// The admin token the page was opened with; never logged, only passed on.
const token = new URLSearchParams(location.search).get('token')
const viewer = token ? new ExportViewer(token) : undefined
new DeadLetterPanel(document.querySelector<HTMLElement>('[data-testid="dead-letters-panel"]')!, `${base}api/`, token).start()

/** A link to one of Quire's pages (demo, dashboard), which take the token as `?token=`. */
function pageLink(href: string): string {
  if (!token) return href
  const url = new URL(href, location.href)
  url.searchParams.set('token', token)
  return url.pathname + url.search
}
// Static links in admin.html that open a page needing the token.
for (const link of document.querySelectorAll<HTMLAnchorElement>('a[data-carry-token]')) link.href = pageLink(link.getAttribute('href')!)

const rate = (perSecond: number) => (perSecond >= 10 ? Math.round(perSecond).toString() : perSecond.toFixed(1))

/** An export: a plain link without a token; with one, a button that fetches with the header and shows the answer. */
function exportChip(url: string, label: string, title: string, file: string): HTMLElement {
  if (!viewer) return element('a', { class: 'chip', href: url, title }, label)
  const button = element('button', { type: 'button', class: 'chip', title, 'data-fetch': url }, label)
  button.addEventListener('click', () => void viewer.show(url, title, file))
  return button
}

/** Who is in the document: subjects (with authentication on) or anonymous, read-only marked. */
function peopleCell(room: Room): HTMLElement {
  const people = room.people ?? []
  const listed = people.reduce((sum, person) => sum + person.connections, 0)
  const chips = people.map((person) =>
    element('span', { class: person.readOnly ? 'person read-only' : 'person', title: person.readOnly ? 'read-only' : 'read and write', 'data-subject': person.subject ?? '' },
      person.subject ?? 'anonymous',
      ...(person.connections > 1 ? [element('span', { class: 'person-count' }, `×${person.connections}`)] : []),
      ...(person.readOnly ? [element('span', { class: 'person-mode' }, 'read')] : []),
    ))
  if (room.connections > listed) chips.push(element('span', { class: 'person more' }, `+${room.connections - listed}`))
  return element('td', { 'data-col': 'people' }, chips.length > 0 ? element('span', { class: 'people-list' }, ...chips) : element('span', { class: 'muted' }, 'nobody'))
}

function render(snapshot: Snapshot): void {
  const { totals } = snapshot
  total('connections').textContent = String(totals.connections)
  total('rooms').textContent = String(totals.rooms)
  total('updatesPerSecond').textContent = rate(totals.updatesPerSecond)
  total('bytesIn').textContent = formatBytes(totals.bytesIn)
  total('bytesOut').textContent = formatBytes(totals.bytesOut)
  total('rssBytes').textContent = formatBytes(snapshot.rssBytes)
  total('uptimeSeconds').textContent = formatDuration(snapshot.uptimeSeconds)

  if (snapshot.history) charts.reset(snapshot.history)
  if (snapshot.sample) charts.add(snapshot.sample)
  charts.render(snapshot.at)

  rows.replaceChildren(...snapshot.rooms.map((room) => {
    const api = `${base}api/docs/${encodeURIComponent(room.name)}`
    const changed = previousConnections.has(room.name) && previousConnections.get(room.name) !== room.connections
    const row = element('tr', { 'data-room': room.name, ...(changed ? { class: 'flash' } : {}) },
      element('td', {}, element('a', { class: 'doc-link', href: pageLink(`${base}d/${roomPath(room.name)}`), title: 'Open in the demo editor' }, room.name)),
      element('td', { class: 'num', 'data-col': 'connections' },
        element('span', { class: room.connections > 0 ? 'pill-count' : 'pill-count zero' }, String(room.connections))),
      peopleCell(room),
      element('td', { class: 'num', 'data-col': 'size' }, room.bytes > 0 ? formatBytes(room.bytes) : element('span', { class: 'muted' }, 'empty')),
      element('td', { class: 'num', 'data-col': 'rate' },
        element('span', { class: room.updatesPerSecond > 0 ? 'rate active' : 'rate' }, rate(room.updatesPerSecond))),
      element('td', { 'data-col': 'last-change' },
        room.lastChange === null ? element('span', { class: 'muted' }, 'never') : formatAgo(room.lastChange, snapshot.at)),
      element('td', {}, element('span', { class: 'links' },
        exportChip(`${api}/json`, 'JSON', 'Document content as JSON', `${fileName(room.name)}.json`),
        exportChip(`${api}/update`, 'Yjs update', 'Full state as a binary Yjs update', `${fileName(room.name)}.yjs`))),
    )
    return row
  }))
  previousConnections.clear()
  for (const room of snapshot.rooms) previousConnections.set(room.name, room.connections)
  empty.hidden = snapshot.rooms.length > 0
  rows.closest('table')!.hidden = snapshot.rooms.length === 0
  note.textContent = totals.rooms > snapshot.rooms.length
    ? `busiest ${snapshot.rooms.length} of ${totals.rooms}`
    : `${totals.rooms} loaded`
}

/** A download name from a document name: `team-a/spec` → `team-a_spec`. */
const fileName = (name: string) => name.replace(/[^\w.-]+/g, '_').slice(0, 100) || 'document'

// EventSource cannot set headers: the stream takes the admin token in the query.
const events = new EventSource(`${base}admin/events${token ? `?token=${encodeURIComponent(token)}` : ''}`)
events.onopen = () => setStatus(status, 'connected', 'Live')
events.onerror = () => setStatus(status, 'disconnected', 'Reconnecting…')
// The server ends the stream when the admin token expires; reconnecting with it would only be refused.
events.addEventListener('expired', () => {
  events.close()
  setStatus(status, 'disconnected', 'Token expired: reload the page with a new one')
})
events.onmessage = (event: MessageEvent<string>) => {
  setStatus(status, 'connected', 'Live')
  render(JSON.parse(event.data) as Snapshot)
}
