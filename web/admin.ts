/**
 * The admin dashboard: loaded documents and server totals, pushed by the server every second
 * over Server-Sent Events (EventSource reconnects by itself when the server restarts).
 */
import { basePath, element, formatAgo, formatBytes, formatDuration, setStatus } from './common.js'
import { roomPath } from './doc-name.js'
import './admin.css'

/** Mirrors AdminSnapshot in src/http/admin-feed.ts. */
interface Snapshot {
  at: number
  uptimeSeconds: number
  rssBytes: number
  totals: { connections: number; rooms: number; updatesPerSecond: number; bytesIn: number; bytesOut: number }
  rooms: Array<{ name: string; connections: number; bytes: number; updatesPerSecond: number; lastChange: number | null }>
}

const base = basePath()
const rows = document.querySelector<HTMLElement>('[data-testid="rooms"]')!
const empty = document.querySelector<HTMLElement>('[data-testid="empty"]')!
const note = document.querySelector<HTMLElement>('[data-testid="rooms-note"]')!
const status = document.querySelector<HTMLElement>('[data-testid="feed-status"]')!
const total = (key: string) => document.querySelector<HTMLElement>(`[data-total="${key}"]`)!
const previousConnections = new Map<string, number>()

const rate = (perSecond: number) => (perSecond >= 10 ? Math.round(perSecond).toString() : perSecond.toFixed(1))

function render(snapshot: Snapshot): void {
  const { totals } = snapshot
  total('connections').textContent = String(totals.connections)
  total('rooms').textContent = String(totals.rooms)
  total('updatesPerSecond').textContent = rate(totals.updatesPerSecond)
  total('bytesIn').textContent = formatBytes(totals.bytesIn)
  total('bytesOut').textContent = formatBytes(totals.bytesOut)
  total('rssBytes').textContent = formatBytes(snapshot.rssBytes)
  total('uptimeSeconds').textContent = formatDuration(snapshot.uptimeSeconds)

  rows.replaceChildren(...snapshot.rooms.map((room) => {
    const api = `${base}api/docs/${encodeURIComponent(room.name)}`
    const changed = previousConnections.has(room.name) && previousConnections.get(room.name) !== room.connections
    const row = element('tr', { 'data-room': room.name, ...(changed ? { class: 'flash' } : {}) },
      element('td', {}, element('a', { class: 'doc-link', href: `${base}d/${roomPath(room.name)}`, title: 'Open in the demo editor' }, room.name)),
      element('td', { class: 'num', 'data-col': 'connections' },
        element('span', { class: room.connections > 0 ? 'pill-count' : 'pill-count zero' }, String(room.connections))),
      element('td', { class: 'num', 'data-col': 'size' }, room.bytes > 0 ? formatBytes(room.bytes) : element('span', { class: 'muted' }, 'empty')),
      element('td', { class: 'num', 'data-col': 'rate' },
        element('span', { class: room.updatesPerSecond > 0 ? 'rate active' : 'rate' }, rate(room.updatesPerSecond))),
      element('td', { 'data-col': 'last-change' },
        room.lastChange === null ? element('span', { class: 'muted' }, 'never') : formatAgo(room.lastChange, snapshot.at)),
      element('td', {}, element('span', { class: 'links' },
        element('a', { class: 'chip', href: `${api}/json`, title: 'Document content as JSON' }, 'JSON'),
        element('a', { class: 'chip', href: `${api}/update`, title: 'Full state as a binary Yjs update' }, 'Yjs update'))),
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

// EventSource cannot set headers: an admin token given to the page (`/admin?token=`) goes in the query.
const token = new URLSearchParams(location.search).get('token')
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
