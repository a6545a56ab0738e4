/**
 * The HTTP side of the pages: demo and dashboard HTML, bundled assets, the dashboard's SSE feed,
 * and proof that page routes never shadow documents of the same name.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'

afterEach(cleanup)

interface RoomRow { name: string; connections: number; bytes: number; updatesPerSecond: number; lastChange: number | null }
interface Snapshot { totals: { connections: number; rooms: number; bytesIn: number }; rooms: RoomRow[] }

/** Reads an SSE stream and keeps every parsed `data:` event. */
function subscribe(url: string) {
  const events: Snapshot[] = []
  const abort = new AbortController()
  const done = (async () => {
    const response = await fetch(url, { signal: abort.signal })
    if (response.headers.get('content-type') !== 'text/event-stream; charset=utf-8') throw new Error('not an event stream')
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of response.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true })
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        for (const line of message.split('\n')) if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)) as Snapshot)
      }
    }
  })().catch(() => {})
  const latest = () => events[events.length - 1]
  const room = (name: string) => latest()?.rooms.find((r) => r.name === name)
  return { events, latest, room, close: () => abort.abort(), done }
}

describe('web pages', () => {
  it('serves the demo at /, /?doc= and /d/<name>, the dashboard at /admin, and their bundles', async () => {
    const server = await startServer()
    const base = `http://127.0.0.1:${server.port}`
    for (const path of ['/', '/?doc=hello', '/d/team%2Fspec%20%C3%BC']) {
      const response = await fetch(base + path)
      expect(response.status, path).toBe(200)
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
      const html = await response.text()
      expect(html).toContain('<meta name="quire-base" content="/">')
      expect(html).toContain('src="/assets/demo.js"')
    }
    const admin = await (await fetch(base + '/admin')).text()
    expect(admin).toContain('src="/assets/admin.js"')
    for (const asset of ['demo.js', 'demo.css', 'admin.js', 'admin.css']) {
      const response = await fetch(`${base}/assets/${asset}`)
      expect(response.status, asset).toBe(200)
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(1000)
    }
    // The bundle is self-contained: no CDN, no bare imports left for the browser to resolve.
    const bundle = await (await fetch(`${base}/assets/demo.js`)).text()
    expect(bundle).not.toMatch(/from\s*["'](?!\.)[\w@]/)
    expect(bundle).not.toMatch(/https?:\/\/(cdn|unpkg|esm\.sh)/)
  })

  it('mounts pages under basePath and points them at it', async () => {
    const server = await startServer({ basePath: '/collab' })
    const base = `http://127.0.0.1:${server.port}`
    const html = await (await fetch(`${base}/collab/d/x`)).text()
    expect(html).toContain('<meta name="quire-base" content="/collab/">')
    expect(html).toContain('src="/collab/assets/demo.js"')
    // Bodies are read to the end: an unread body keeps its connection busy and delays close().
    const status = async (path: string) => {
      const response = await fetch(base + path)
      await response.arrayBuffer()
      return response.status
    }
    expect(await status('/collab/assets/demo.js')).toBe(200)
    expect(await status('/collab/healthz')).toBe(200)
    expect(await status('/')).toBe(404)
  })

  it('still serves documents named like the pages over WebSocket', async () => {
    const server = await startServer()
    for (const name of ['admin', 'metrics', 'd/hello', 'assets/demo.js']) {
      const a = connect(server.url, name)
      const b = connect(server.url, name)
      await Promise.all([synced(a), synced(b)])
      a.doc.getText('t').insert(0, name)
      await waitFor(() => b.doc.getText('t').toString() === name, `the document ${name}`)
    }
    const metrics = await fetch(`http://127.0.0.1:${server.port}/metrics`)
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await metrics.text()).toContain('quire_connections 8')
  })
})

describe('admin event stream', () => {
  it('pushes rooms with connections, size, update rate and last change, and follows leaves', async () => {
    const server = await startServer()
    const feed = subscribe(`http://127.0.0.1:${server.port}/admin/events`)
    await waitFor(() => feed.events.length > 0, 'the first snapshot, sent at once')
    expect(feed.latest()!.rooms).toEqual([])

    const a = connect(server.url, 'watched')
    const b = connect(server.url, 'watched')
    await Promise.all([synced(a), synced(b)])
    await waitFor(() => feed.room('watched')?.connections === 2, 'the room with 2 connections')
    expect(feed.latest()!.totals.connections).toBe(2)

    for (let i = 0; i < 20; i++) a.doc.getText('t').insert(0, 'edit ')
    await waitFor(() => (feed.room('watched')?.bytes ?? 0) > 0, 'the stored size')
    await waitFor(() => feed.events.some((e) => (e.rooms.find((r) => r.name === 'watched')?.updatesPerSecond ?? 0) > 0), 'a non-zero update rate')
    expect(Math.abs(feed.room('watched')!.lastChange! - Date.now())).toBeLessThan(10_000)

    b.destroy()
    await waitFor(() => feed.room('watched')?.connections === 1, 'the room with 1 connection')
    a.destroy()
    await waitFor(() => feed.latest()!.rooms.length === 0 && feed.latest()!.totals.connections === 0, 'the room gone')

    // An open stream must not hold up shutdown.
    await server.close()
    await feed.done
  })
})
