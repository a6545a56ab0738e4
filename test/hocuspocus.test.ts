/**
 * The Hocuspocus provider protocol on the base path, with the real `@hocuspocus/provider` (4.x and
 * 3.x): many documents over one socket, in the same rooms as y-websocket clients; acknowledgements
 * only once durable; per-document auth; one document closed while the others go on.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { cleanup, connect, delegatingStore, startServer, synced, tempDir, waitFor, withTimeout } from './helpers.js'
import { SECRET, closeClients, providerWith, sign } from './auth-helpers.js'
import { atFirstSync, killChildren, startChild } from './child-server.js'
import { closeHocuspocusClients, hpDenied, hpProvider, hpSocket, hpSynced, text } from './hocuspocus-helpers.js'
import { LevelDocStore } from '../src/storage/leveldb.js'
import { metric } from './metrics-helpers.js'

const ROOT = join(import.meta.dirname, '..')

afterEach(async () => {
  closeHocuspocusClients()
  closeClients()
  await killChildren()
  await cleanup()
})

describe('Hocuspocus providers and y-websocket providers in the same rooms', () => {
  it('three documents over one shared socket converge with y-websocket clients, text and awareness', async () => {
    const server = await startServer()
    const socket = hpSocket(server.url)
    const names = ['doc-1', 'doc-2', 'doc-3']
    const hp = names.map((name) => hpProvider(socket, name))
    // A second provider of doc-1 on the same socket: v4's sessionAwareness keeps them apart.
    const second = hpProvider(socket, 'doc-1', { sessionAwareness: true })
    const ys = names.map((name) => connect(server.url, name))
    await Promise.all([...hp.map((p) => hpSynced(p)), hpSynced(second), ...ys.map((y) => synced(y))])
    // One socket, four documents joined on it (two sessions of doc-1): metrics tell the protocols apart.
    expect(await metric(server, 'quire_connections')).toBe(4)
    expect(await metric(server, 'quire_peers{protocol="hocuspocus"}')).toBe(4)
    expect(await metric(server, 'quire_peers{protocol="y-websocket"}')).toBe(3)
    expect(await metric(server, 'quire_connections_opened_total{protocol="hocuspocus"}')).toBe(1)

    hp.forEach((p, i) => p.document.getText('t').insert(0, `hp${i} `))
    ys.forEach((y, i) => y.doc.getText('t').insert(0, `ws${i} `))
    second.document.getText('t').insert(0, 'second ')
    for (const [i, p] of hp.entries()) {
      await waitFor(() => text(p) === ys[i]!.doc.getText('t').toString() && text(p).includes(`ws${i}`) && text(p).includes(`hp${i}`), `${names[i]} converged`)
    }
    await waitFor(() => text(second) === text(hp[0]!) && text(hp[0]!).includes('second'), 'the session provider converged')
    expect(text(hp[1]!)).not.toContain('hp0') // documents stay apart on the shared socket

    hp[0]!.setAwarenessField('user', { name: 'tiptap' })
    ys[0]!.awareness.setLocalStateField('user', { name: 'codemirror' })
    const names0 = (states: Map<number, Record<string, unknown>>) => [...states.values()].map((s) => (s.user as { name?: string } | undefined)?.name).filter(Boolean)
    await waitFor(() => names0(ys[0]!.awareness.getStates()).includes('tiptap'), 'y-websocket sees the Hocuspocus cursor')
    await waitFor(() => names0(hp[0]!.awareness!.getStates()).includes('codemirror'), 'Hocuspocus sees the y-websocket cursor')
    await waitFor(() => names0(second.awareness!.getStates()).includes('tiptap'), 'the other session sees it too')
    expect(names0(ys[1]!.awareness.getStates())).toEqual([])
  })

  it('a 3.x provider edits with a y-websocket client', async () => {
    const server = await startServer()
    const old = hpProvider(hpSocket(server.url, 3), 'legacy', { version: 3 })
    const y = connect(server.url, 'legacy')
    await Promise.all([hpSynced(old), synced(y)])
    old.document.getText('t').insert(0, 'from v3')
    await waitFor(() => y.doc.getText('t').toString() === 'from v3', 'v3 edit relayed')
    y.doc.getText('t').insert(7, ', and back')
    await waitFor(() => text(old) === 'from v3, and back', 'y-websocket edit relayed')
    await waitFor(() => old.unsyncedChanges === 0, 'v3 acknowledged')
  })

  it('stateless messages reach the document\'s other Hocuspocus providers only', async () => {
    const server = await startServer()
    const a = hpProvider(hpSocket(server.url), 'chat')
    const b = hpProvider(hpSocket(server.url), 'chat')
    const elsewhere = hpProvider(hpSocket(server.url), 'other')
    await Promise.all([hpSynced(a), hpSynced(b), hpSynced(elsewhere)])
    const got: string[] = []
    const gotElsewhere: string[] = []
    b.on('stateless', ({ payload }: { payload: string }) => got.push(payload))
    a.on('stateless', ({ payload }: { payload: string }) => got.push('echo ' + payload))
    elsewhere.on('stateless', ({ payload }: { payload: string }) => gotElsewhere.push(payload))
    a.sendStateless(JSON.stringify({ ping: 1 }))
    await waitFor(() => got.length === 1, 'stateless relayed')
    expect(got).toEqual(['{"ping":1}'])
    expect(gotElsewhere).toEqual([])
  })

  it('closing one document leaves the socket and the other documents syncing', async () => {
    const server = await startServer()
    const socket = hpSocket(server.url)
    const keep = hpProvider(socket, 'keep')
    const gone = hpProvider(socket, 'gone')
    await Promise.all([hpSynced(keep), hpSynced(gone)])
    expect(server.app.quire.registry.clients('gone').length).toBe(1)
    gone.detach() // the provider's Close message
    await waitFor(() => server.app.quire.registry.clients('gone').length === 0, 'the closed document left its room')
    const y = connect(server.url, 'keep')
    await synced(y)
    y.doc.getText('t').insert(0, 'still here')
    await waitFor(() => text(keep) === 'still here', 'the other document still syncs')
    expect(socket.status).toBe('connected')
    gone.attach() // and it can come back on the same socket
    await waitFor(() => server.app.quire.registry.clients('gone').length === 1, 'reattached')
  })
})

describe('where', () => {
  it('under a basePath, the base path with or without its slash speaks Hocuspocus and the paths below it y-websocket', async () => {
    const server = await startServer({ basePath: '/collab' })
    const bare = hpProvider(hpSocket(`${server.url}/collab`), 'notes')
    const slashed = hpProvider(hpSocket(`${server.url}/collab/`), 'notes')
    const y = connect(`${server.url}/collab`, 'notes')
    await Promise.all([hpSynced(bare), hpSynced(slashed), synced(y)])
    y.doc.getText('t').insert(0, 'one room')
    await waitFor(() => text(bare) === 'one room' && text(slashed) === 'one room', 'both Hocuspocus sockets are in the room')
  })
})

describe('acknowledgements mean durable', () => {
  it('unsyncedChanges stays above 0 while the write is not committed', async () => {
    const dataDir = await tempDir()
    const inner = await LevelDocStore.open(dataDir)
    let release: () => void = () => {}
    let held = false
    const gate = new Promise<void>((resolve) => (release = resolve))
    const store = delegatingStore(inner, {
      append: async (name, update) => {
        held = true
        await gate
        return inner.append(name, update)
      },
    })
    const server = await startServer({ store })
    const p = hpProvider(hpSocket(server.url), 'held')
    await hpSynced(p)
    await waitFor(() => p.unsyncedChanges === 0, 'initial sync acknowledged')
    p.document.getText('t').insert(0, 'wait for disk')
    await waitFor(() => held, 'the append reached the store')
    // The update is applied in memory; Hocuspocus would have acknowledged it already.
    await waitFor(() => server.app.quire.registry.clients('held').length === 1, 'joined')
    expect(p.unsyncedChanges).toBeGreaterThan(0)
    release()
    await waitFor(() => p.unsyncedChanges === 0, 'acknowledged once committed')
    await server.close()
    await inner.close()
  })

  it('SIGKILL right after unsyncedChanges reaches 0 loses nothing', async () => {
    const dataDir = await tempDir()
    const first = await startChild({ dataDir })
    const p = hpProvider(hpSocket(first.url), 'crash')
    await hpSynced(p)
    for (let i = 0; i < 50; i++) p.document.getText('t').insert(i, String.fromCharCode(97 + (i % 26)))
    const expected = text(p)
    await waitFor(() => p.unsyncedChanges === 0, 'all acknowledged', 20_000)
    await first.kill('SIGKILL')
    closeHocuspocusClients()
    const second = await startChild({ dataDir })
    const reader = connect(second.url, 'crash')
    expect(await atFirstSync(reader, (doc: Y.Doc) => doc.getText('t').toString())).toBe(expected)
  })
})

describe('per-document auth', () => {
  const authServer = () => startServer({ auth: { secret: SECRET } })

  async function seeded(server: Awaited<ReturnType<typeof authServer>>, name: string) {
    const writer = providerWith(server.url, name, await sign({ claims: { role: 'admin' } }))
    await synced(writer)
    writer.doc.getText('t').insert(0, 'secret')
    await waitFor(async () => (await server.app.quire.store.info(name))?.seq === 1, 'seed stored')
    return writer
  }

  it('a valid token syncs; expired and forbidden tokens are denied without content; each document decides alone', async () => {
    const server = await authServer()
    await seeded(server, 'team-a/spec')
    await seeded(server, 'team-b/plan')
    const socket = hpSocket(server.url)
    const good = await sign({ claims: { docs: { 'team-a/*': 'write' } } })
    const ok = hpProvider(socket, 'team-a/spec', { token: good })
    const forbidden = hpProvider(socket, 'team-b/plan', { token: good })
    const expiredDoc = new Y.Doc()
    const expired = hpProvider(hpSocket(server.url), 'team-a/spec', { token: await sign({ expiresIn: -60, claims: { docs: { '*': 'write' } } }), doc: expiredDoc })
    const [reasonForbidden, reasonExpired] = await Promise.all([hpDenied(forbidden), hpDenied(expired), hpSynced(ok)])
    expect(reasonForbidden).toMatch(/no access/)
    expect(reasonExpired).toMatch(/exp/)
    expect(text(ok)).toBe('secret')
    expect(text(forbidden)).toBe('')
    expect(expiredDoc.getText('t').toString()).toBe('')
    expect(ok.authorizedScope).toBe('read-write')
    ok.document.getText('t').insert(6, '!')
    await waitFor(async () => (await server.app.quire.store.info('team-a/spec'))?.seq === 2, 'the admitted document writes')
    expect(socket.status).toBe('connected') // the refusal closed no socket
  })

  it('a read token gives the readonly scope: edits are refused (not acknowledged), others\' edits arrive', async () => {
    const server = await authServer()
    const writer = await seeded(server, 'shared')
    const reader = hpProvider(hpSocket(server.url), 'shared', { token: await sign({ claims: { docs: { shared: 'read' } } }) })
    await hpSynced(reader)
    expect(reader.authorizedScope).toBe('readonly')
    await waitFor(() => reader.unsyncedChanges === 0, 'its empty SyncStep2 acknowledged')
    reader.document.getText('t').insert(0, 'vandal ')
    await waitFor(() => reader.unsyncedChanges === 1, 'the edit counted')
    writer.doc.getText('t').insert(6, ' text')
    await waitFor(() => text(reader).endsWith('secret text'), 'the writer\'s edit arrived')
    expect((await server.app.quire.store.info('shared'))?.seq).toBe(2) // the seed and the writer's edit only
    expect(writer.doc.getText('t').toString()).toBe('secret text')
    expect(reader.unsyncedChanges).toBe(1)
  })

  it('an expiring token ends its document with permission-denied; a token sent again before expiry keeps it open', async () => {
    const server = await authServer()
    const socket = hpSocket(server.url)
    let refreshed = false
    const tokens = { short: await sign({ expiresIn: 2, claims: { docs: { '*': 'write' } } }), long: await sign({ claims: { docs: { '*': 'write' } } }) }
    const lapsing = hpProvider(socket, 'lapsing', { token: tokens.short })
    const renewed = hpProvider(socket, 'renewed', { token: async () => (refreshed ? tokens.long : tokens.short) })
    await Promise.all([hpSynced(lapsing), hpSynced(renewed)])
    refreshed = true
    await renewed.sendToken() // the provider's token refresh: a new Auth message on an open document
    expect(await hpDenied(lapsing, 10_000)).toBe('token expired')
    await waitFor(() => server.app.quire.registry.clients('lapsing').length === 0, 'the lapsed document left its room')
    expect(server.app.quire.registry.clients('renewed')).toHaveLength(1)
    renewed.document.getText('t').insert(0, 'after the first token expired')
    await waitFor(async () => (await server.app.quire.store.info('renewed'))?.seq === 1, 'the renewed document still writes')
  })
})

describe('README', () => {
  it('the Hocuspocus snippet connects and syncs as written (Node: with ws as its WebSocket)', async () => {
    const server = await startServer()
    const seed = connect(server.url, 'team-a/spec')
    await synced(seed)
    seed.doc.getText('content').insert(0, 'from the README')
    await waitFor(async () => (await server.app.quire.store.info('team-a/spec'))?.seq === 1, 'seeded')
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const section = readme.slice(readme.indexOf('### Tiptap and other Hocuspocus providers'))
    const snippet = /```js\n([\s\S]*?)```/.exec(section)![1]!
    const require = createRequire(import.meta.url)
    const script = [
      `import WebSocket from ${JSON.stringify(require.resolve('ws'))}`,
      'globalThis.WebSocket = WebSocket',
      snippet
        .replace("from 'yjs'", `from ${JSON.stringify(require.resolve('yjs'))}`)
        .replace("from '@hocuspocus/provider'", `from ${JSON.stringify(require.resolve('@hocuspocus/provider'))}`)
        .replace('ws://localhost:1234', server.url),
      "provider.on('synced', () => setTimeout(() => provider.destroy(), 50))",
    ].join('\n')
    const dir = await tempDir()
    writeFileSync(join(dir, 'snippet.mjs'), script)
    const child = spawn(process.execPath, ['snippet.mjs'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()))
    const code = await withTimeout(new Promise<number | null>((resolve) => child.on('close', resolve)), 20_000, 'the snippet')
    expect(out).toContain('from the README')
    expect(code).toBe(0)
  })
})

