/**
 * `quire inspect` on a document whose every figure is known: stored size, log, seq, times,
 * versions, Yjs clients with their clocks, top-level types with their kinds; as a report and as
 * JSON, on a stopped store and through a running server (which adds whether it is loaded).
 */
import { cp } from 'node:fs/promises'
import { join } from 'node:path'
import * as Y from 'yjs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { cleanup, connect, startServer, synced, tempDir } from './helpers.js'
import { appendEdits, killCommands, quire, withStore } from './ops-helpers.js'
import type { DocInfo, VersionInfo } from '../src/storage/doc-store.js'

let dir: string
let info: DocInfo
let version: VersionInfo
let state: Uint8Array

beforeAll(async () => {
  dir = await tempDir('quire-ops-inspect-')
  await withStore({ dir }, async (store) => {
    // Two writers with known client ids; every kind of top-level type; one whose content is all deleted.
    const ada = new Y.Doc()
    ada.clientID = 1001
    const bob = new Y.Doc()
    bob.clientID = 2002
    await appendEdits(store, 'known', ada, () => {
      ada.getText('content').insert(0, 'Hello')
      ada.getText('gone').insert(0, 'soon deleted')
      ada.getText('gone').delete(0, 12)
    })
    Y.applyUpdate(bob, Y.encodeStateAsUpdate(ada))
    await appendEdits(store, 'known', bob, () => {
      bob.getMap('meta').set('owner', 'bob')
      bob.getArray('list').push([1, 2, 3])
      bob.getXmlFragment('prose').insert(0, [new Y.XmlElement('paragraph')])
    })
    version = (await store.versions.create('known', 'first draft', Y.encodeStateAsUpdate(bob)))!
    state = Y.encodeStateAsUpdate(bob)
    info = (await store.info('known'))!
  })
}, 60_000)
afterEach(killCommands)
afterAll(cleanup)

const iso = (ms: number) => new Date(ms).toISOString()

describe('quire inspect', () => {
  it('reports a known document as JSON and as text', async () => {
    const run = await quire(['inspect', 'known', '--json', '--data', dir])
    expect(run.code, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({
      name: 'known',
      where: dir,
      bytes: info.bytes,
      logUpdates: 6,
      seq: 6,
      createdAt: iso(info.createdAt),
      updatedAt: iso(info.updatedAt),
      contentBytes: state.byteLength,
      clients: [{ client: 1001, clock: 17 }, { client: 2002, clock: 5 }],
      types: [
        { name: 'content', kind: 'text' },
        { name: 'gone', kind: null },
        { name: 'list', kind: 'array' },
        { name: 'meta', kind: 'map' },
        { name: 'prose', kind: 'xml' },
      ],
      versions: [{ id: 1, label: 'first draft', bytes: version.bytes, createdAt: iso(version.createdAt) }],
    })

    const text = await quire(['inspect', 'known', '--data', dir])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toBe(
      [
        `document:      "known" in ${dir}`,
        `stored:        ${info.bytes} bytes, 6 updates in the log, seq 6`,
        `created:       ${iso(info.createdAt)}`,
        `updated:       ${iso(info.updatedAt)}`,
        `content:       ${state.byteLength} bytes as one Yjs update`,
        'clients:       2 (client id: clock)',
        '  1001: 17',
        '  2002: 5',
        'shared types:  5',
        '  "content": text',
        '  "gone": unknown (nothing live in it)',
        '  "list": array',
        '  "meta": map',
        '  "prose": xml',
        'versions:      1',
        `  1  ${iso(version.createdAt)}  ${version.bytes} bytes  "first draft"`,
        '',
      ].join('\n'),
    )
  })

  it('through a running server: the same figures, plus whether it is loaded and its connections', async () => {
    const copy = join(await tempDir(), 'copy')
    await cp(dir, copy, { recursive: true })
    const server = await startServer({ dataDir: copy })
    const url = `http://127.0.0.1:${server.port}`
    const cold = JSON.parse((await quire(['inspect', 'known', '--json', '--server', url])).stdout) as Record<string, unknown>
    expect(cold).toMatchObject({ name: 'known', where: url, bytes: info.bytes, logUpdates: 6, seq: 6, loaded: false, connections: 0, contentBytes: state.byteLength })
    expect(cold.clients).toEqual([{ client: 1001, clock: 17 }, { client: 2002, clock: 5 }])

    await synced(connect(server.url, 'known'))
    const live = await quire(['inspect', 'known', '--server', url])
    expect(live.code, live.stderr).toBe(0)
    expect(live.stdout).toContain('\nlive:          loaded, 1 connection\n')
    expect(live.stdout).toContain('\n  "prose": xml\n')

    const missing = await quire(['inspect', 'nope', '--server', url])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe(`quire: document "nope" not found in ${url}\n`)
  })
})
