/**
 * `quire compact`: the log goes to 0 and the content stays byte for byte, for named documents or
 * all of them, on LevelDB, PostgreSQL and a running server (where a live client keeps editing
 * across the compaction); an unknown name is a failure once the others are done.
 */
import * as Y from 'yjs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { cleanup, connect, startServer, synced, tempDir, waitFor } from './helpers.js'
import { createTestDatabase, randomSchema, type TestDatabase } from './postgres-helpers.js'
import { appendEdits, contentsAt, contentsOf, expectSameContents, killCommands, quire, whereArgs, withStore, type Where } from './ops-helpers.js'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterEach(killCommands)
afterAll(async () => {
  await cleanup()
  await database?.drop()
})

/** "busy": 50 updates in its log; "calm": a compacted base, 5 updates and a version. */
async function seed(where: Where): Promise<void> {
  await withStore(where, async (store) => {
    const busy = new Y.Doc()
    for (let i = 0; i < 50; i++) await appendEdits(store, 'busy', busy, () => busy.getText('t').insert(0, `${i} `))
    const calm = new Y.Doc()
    await appendEdits(store, 'calm', calm, () => calm.getMap('m').set('first', 1))
    await store.compact('calm')
    await store.versions.create('calm', 'v', Y.encodeStateAsUpdate(calm))
    for (let i = 0; i < 5; i++) await appendEdits(store, 'calm', calm, () => calm.getMap('m').set(`k${i}`, i))
  })
}

const logOf = async (where: Where, name: string) => withStore(where, async (store) => (await store.info(name))!.logUpdates)

describe('quire compact on a stopped store', () => {
  it.each<{ kind: string; where: () => Promise<Where> }>([
    { kind: 'LevelDB', where: async () => ({ dir: await tempDir() }) },
    { kind: 'PostgreSQL', where: async () => ({ url: database.url, schema: randomSchema() }) },
  ])('$kind: a named document, then all; the log goes to 0, the content stays', async ({ where: make }) => {
    const where = await make()
    await seed(where)
    const before = await contentsAt(where)
    expect(before.docs.get('busy')!.logUpdates).toBe(50)

    const one = await quire(['compact', 'busy', ...whereArgs(where)])
    expect(one.code, one.stderr).toBe(0)
    expect(one.stderr).toMatch(/^compacted 1\/1: busy \(log 50 → 0, \d+ → \d+ bytes\)$/m)
    expect(one.stdout).toMatch(/^done in [\d.]+ s: 1 document compacted, 50 log updates folded, \d+ → \d+ bytes stored\n$/)
    expect(await logOf(where, 'busy')).toBe(0)
    expect(await logOf(where, 'calm')).toBe(5)

    const all = await quire(['compact', ...whereArgs(where)])
    expect(all.code, all.stderr).toBe(0)
    expect(all.stdout).toMatch(/: 2 documents compacted, 5 log updates folded, /)
    const after = await contentsAt(where)
    for (const name of after.names) expect(after.docs.get(name)!.logUpdates, name).toBe(0)
    expectSameContents(after, before)
  })

  it('an unknown name is reported, the others are compacted, and it exits 1', async () => {
    const where = { dir: await tempDir() }
    await seed(where)
    const run = await quire(['compact', 'nope', 'busy', ...whereArgs(where)])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^not found: nope$/m)
    expect(run.stderr).toMatch(/\nquire: 1 document not found in .*\n$/)
    expect(run.stdout).toMatch(/: 1 document compacted, 50 log updates folded, \d+ → \d+ bytes stored, 1 not found\n$/)
    expect(await logOf(where, 'busy')).toBe(0)
  })
})

describe('quire compact through a running server', () => {
  it('compacts a document live clients are editing; they keep editing, nothing is lost', async () => {
    const server = await startServer()
    const url = `http://127.0.0.1:${server.port}`
    const provider = connect(server.url, 'live')
    await synced(provider)
    const text = provider.doc.getText('t')
    for (let i = 0; i < 30; i++) text.insert(0, `${i} `)
    const store = server.app.quire.store
    await waitFor(async () => (await store.info('live'))?.seq === 30, 'the edits to be stored')
    expect((await store.info('live'))!.logUpdates).toBe(30)

    const run = await quire(['compact', '--server', url])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toMatch(/^compacted 1: live \(log 30 → 0, \d+ → \d+ bytes\)$/m)
    expect((await store.info('live'))!.logUpdates).toBe(0)

    text.insert(0, 'after ')
    const reader = connect(server.url, 'live')
    await synced(reader)
    await waitFor(() => reader.doc.getText('t').toString() === text.toString(), 'a new client to see every edit')
    const stored = await contentsOf(store)
    expect(Buffer.from(stored.docs.get('live')!.state).equals(Buffer.from(Y.encodeStateAsUpdate(provider.doc)))).toBe(true)

    const missing = await quire(['compact', 'nope', '--server', url])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^not found: nope$/m)
  })
})
