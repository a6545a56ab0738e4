/**
 * Version and connection events to a real receiver that verifies every signature: versions saved
 * and restored over REST (and brought back by a backup restore) with the subject who did it and
 * the seq they match; connection events only when asked for, with subject, transport, duration
 * and close code. Also: the `--webhook-events` groups, and outbox keys under concurrent enqueues
 * (connection events of a room that closes are recorded in one turn).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { parseServeConfig } from '../src/config.js'
import { DEFAULT_EVENT_TYPES } from '../src/events/change-events.js'
import { LevelDocStore } from '../src/storage/leveldb.js'
import { cleanup, connect, startServer, synced, tempDir, waitFor } from './helpers.js'
import { SECRET, closeClients, framesOf, providerWith, sign } from './auth-helpers.js'
import { closeSse, eventsUrl, openStream } from './sse-helpers.js'
import { closeReceivers, fast, ofType, startReceiver, webhookTo, type Receiver } from './events-helpers.js'

afterEach(async () => {
  closeClients()
  await cleanup()
  closeSse()
  await closeReceivers()
})

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const postJson = (url: string, token: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { ...bearer(token), 'content-type': 'application/json' }, body: JSON.stringify(body) })
const arrived = (receiver: Receiver, type: string, count = 1) =>
  waitFor(() => ofType(receiver, type).length >= count, `${count} ${type}`, 5000)

describe('version events', () => {
  it('reports saving and restoring a version, with who did it and the seq; never content or tokens', async () => {
    const receiver = await startReceiver()
    const server = await startServer({ auth: { secret: SECRET }, changeEvents: { ...webhookTo(receiver), ...fast } })
    const api = `http://127.0.0.1:${server.port}/api/docs/${encodeURIComponent('plans/q3')}`
    const alice = await sign({ claims: { sub: 'alice', docs: { 'plans/*': 'write' } } })
    const admin = await sign({ claims: { sub: 'ops', role: 'admin' } })
    const editor = providerWith(server.url, 'plans/q3', alice)
    await synced(editor)
    editor.doc.getText('t').insert(0, 'Confidential plan')
    await arrived(receiver, 'document.created')
    const created = ofType(receiver, 'document.created')[0]!

    const saved = await postJson(`${api}/versions`, alice, { label: 'approved' })
    expect(saved.status).toBe(201)
    const version = (await saved.json()) as { id: number; label: string }
    await arrived(receiver, 'version.created')
    expect(ofType(receiver, 'version.created')[0]!.data).toEqual({
      name: 'plans/q3', version: { id: version.id, label: 'approved' }, seq: created.data.toSeq, subject: 'alice',
    })

    editor.doc.getText('t').insert(0, 'Revised: ')
    await arrived(receiver, 'document.updated')
    const restored = await postJson(`${api}/versions/${version.id}/restore`, alice, {})
    expect(restored.status).toBe(200)
    await arrived(receiver, 'version.restored')
    const restore = ofType(receiver, 'version.restored')[0]!
    expect(restore.data).toMatchObject({ name: 'plans/q3', version: { id: version.id, label: 'approved' }, subject: 'alice' })
    // The seq is the restoring edit's: the next document.updated covers it, made over REST.
    expect(restore.data.seq).toBeGreaterThan(ofType(receiver, 'document.updated')[0]!.data.toSeq!)
    await waitFor(() => ofType(receiver, 'document.updated').some((e) => e.data.toSeq! >= restore.data.seq!), 'the restore as an update', 5000)
    expect(ofType(receiver, 'document.updated').at(-1)!.data).toMatchObject({ fromSeq: restore.data.seq, origins: { rest: true } })
    await waitFor(() => editor.doc.getText('t').toString() === 'Confidential plan', 'the editor to see the restore')

    // A backup restored over REST brings the version back: it is new on this server, and said so.
    const backup = await fetch(`http://127.0.0.1:${server.port}/api/backup`, { headers: bearer(admin) })
    const file = new Uint8Array(await backup.arrayBuffer())
    editor.destroy()
    expect((await fetch(api, { method: 'DELETE', headers: bearer(admin) })).status).toBe(204)
    await arrived(receiver, 'document.deleted')
    const restoredBackup = await fetch(`http://127.0.0.1:${server.port}/api/restore`, { method: 'POST', headers: { ...bearer(admin), 'content-type': 'application/octet-stream' }, body: file })
    expect(restoredBackup.status).toBe(200)
    await arrived(receiver, 'version.created', 2)
    expect(ofType(receiver, 'version.created')[1]!.data).toEqual({ name: 'plans/q3', version: { id: version.id, label: 'approved' }, subject: 'ops' })

    const everything = JSON.stringify(receiver.events)
    expect(everything).not.toContain('Confidential')
    for (const token of [alice, admin]) expect(everything).not.toContain(token)
    expect(receiver.badSignatures).toBe(0)
    expect(receiver.duplicates).toBe(0)
  })
})

describe('connection events', () => {
  it('are not sent unless asked for', async () => {
    const receiver = await startReceiver()
    const server = await startServer({ changeEvents: { ...webhookTo(receiver), ...fast } })
    const editor = connect(server.url, 'quiet')
    await synced(editor)
    editor.doc.getText('t').insert(0, 'x')
    await arrived(receiver, 'document.created')
    editor.destroy()
    expect((await fetch(`http://127.0.0.1:${server.port}/api/docs/quiet`, { method: 'DELETE' })).status).toBe(204)
    // Events reach a sink in the order they were recorded: a connection event would have come first.
    await arrived(receiver, 'document.deleted')
    expect(receiver.events.map((e) => e.type)).toEqual(['document.created', 'document.deleted'])
  })

  it('when asked for, say who opened and closed which connection, over which transport, how long and how it ended', async () => {
    const receiver = await startReceiver()
    const events = [...DEFAULT_EVENT_TYPES, 'connection.opened' as const, 'connection.closed' as const]
    const server = await startServer({ auth: { secret: SECRET }, changeEvents: { ...webhookTo(receiver), events, ...fast } })
    const token = (sub: string, access = 'write') => sign({ claims: { sub, docs: { 'room/*': access } } })
    const alice = providerWith(server.url, 'room/a', await token('alice'))
    await synced(alice)
    const bob = await openStream(eventsUrl(server, 'room/a'), bearer(await token('bob', 'read')))
    await bob.next((e) => e.event === 'sync', 'bob in sync')
    const carol = framesOf(`${server.url}/room/a?token=${await token('carol')}`)
    await carol.opened
    await arrived(receiver, 'connection.opened', 3)
    const opened = new Map(ofType(receiver, 'connection.opened').map((e) => [e.data.subject, e.data]))
    expect(opened.get('alice')).toMatchObject({ name: 'room/a', transport: 'websocket' })
    expect(opened.get('bob')).toMatchObject({ name: 'room/a', transport: 'sse' })
    expect(opened.get('carol')).toMatchObject({ name: 'room/a', transport: 'websocket' })
    expect(new Set([...opened.values()].map((d) => `${d.transport}:${d.connection}`)).size).toBe(3)

    carol.ws.close(1000, 'bye') // a client that closes normally
    await arrived(receiver, 'connection.closed')
    // The others are closed by the server: the document is deleted.
    const admin = await sign({ claims: { sub: 'ops', role: 'admin' } })
    expect((await fetch(`http://127.0.0.1:${server.port}/api/docs/${encodeURIComponent('room/a')}`, { method: 'DELETE', headers: bearer(admin) })).status).toBe(204)
    await arrived(receiver, 'connection.closed', 3)
    const closed = new Map(ofType(receiver, 'connection.closed').map((e) => [e.data.subject, e.data]))
    expect(closed.get('carol')).toMatchObject({ connection: opened.get('carol')!.connection, transport: 'websocket', closeCode: 1000 })
    expect(closed.get('alice')).toMatchObject({ connection: opened.get('alice')!.connection, transport: 'websocket', closeCode: 4404 })
    expect(closed.get('bob')).toMatchObject({ connection: opened.get('bob')!.connection, transport: 'sse', closeCode: 4404 })
    for (const data of closed.values()) expect(data.durationMs).toBeGreaterThanOrEqual(0)
    expect(receiver.badSignatures).toBe(0)
  })
})

describe('--webhook-events', () => {
  const eventsOf = (value?: string) =>
    parseServeConfig([], { WEBHOOK_URL: 'http://127.0.0.1:9/hooks', WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 1).toString('base64')}`, ...(value !== undefined && { WEBHOOK_EVENTS: value }) }).changeEvents!.events

  it('defaults to the document and version events; connection events only when named', () => {
    expect(eventsOf()).toEqual([...DEFAULT_EVENT_TYPES])
    expect(eventsOf('connection.*,document.deleted')).toEqual(['connection.opened', 'connection.closed', 'document.deleted'])
    expect(eventsOf('version.created')).toEqual(['version.created'])
    expect(() => eventsOf('connection.dropped')).toThrow(/is not one of/)
  })
})

describe('the LevelDB outbox', () => {
  it('gives events enqueued in the same turn keys of their own', async () => {
    const store = await LevelDocStore.open(await tempDir())
    try {
      const outbox = store.events
      await Promise.all(['a', 'b', 'c'].map((id) => outbox.enqueue([{ eventId: id, body: '{}', type: 'connection.closed' }], () => ['sink'])))
      await Promise.all(['d', 'e'].map((id) => outbox.enqueue([{ eventId: id, body: '{}', type: 'connection.closed' }], () => ['sink'])))
      // One record each: none overwrote another by reusing its key.
      expect((await outbox.depth()).records).toBe(5)
    } finally {
      await store.close()
    }
  })
})
