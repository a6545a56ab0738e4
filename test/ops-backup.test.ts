/**
 * `quire backup` and `quire restore` as real processes: backup → wipe → restore gives back every
 * document and version byte for byte, on LevelDB, on PostgreSQL and through a running server; a
 * second restore changes nothing; conflicts are reported and left alone; a damaged or truncated
 * backup is refused before anything is written.
 */
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as Y from 'yjs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { BackupReader } from '../src/ops/backup-format.js'
import { cleanup, connect, startServer, synced, tempDir, waitFor, type TestServer } from './helpers.js'
import { createTestDatabase, randomSchema, type TestDatabase } from './postgres-helpers.js'
import {
  contentsAt, contentsOf, expectSameContents, FIXTURE_NAMES, FIXTURE_VERSIONS, killCommands, quire, restoreSummary, seedFixtures, whereArgs, withStore, type Contents, type Where,
} from './ops-helpers.js'

let database: TestDatabase
let seeded: string // a LevelDB directory with the fixtures, only ever read
let fixtures: Contents
let backupFile: string // a backup of `seeded`, written once

beforeAll(async () => {
  database = await createTestDatabase()
  seeded = await tempDir('quire-ops-seed-')
  await withStore({ dir: seeded }, seedFixtures)
  fixtures = await contentsAt({ dir: seeded })
  backupFile = join(await tempDir(), 'fixtures.backup')
  const run = await quire(['backup', backupFile, '--data', seeded])
  expect(run.code, run.stderr).toBe(0)
}, 60_000)
afterEach(killCommands)
afterAll(async () => {
  await cleanup()
  await database?.drop()
})

const serverUrl = (server: TestServer) => `http://127.0.0.1:${server.port}`

async function wipe(where: Where): Promise<void> {
  await withStore(where, async (store) => {
    for (const name of (await contentsOf(store)).names) await store.delete(name)
    expect((await contentsOf(store)).names).toEqual([])
  })
}

describe('quire backup and restore on a stopped store', () => {
  it('LevelDB: backup, wipe, restore gives every document and version back byte for byte; again skips all', async () => {
    const dir = await tempDir()
    await withStore({ dir }, seedFixtures)
    const before = await contentsAt({ dir })
    const file = join(await tempDir(), 'b.backup')

    const backup = await quire(['backup', file, '--data', dir])
    expect(backup.code, backup.stderr).toBe(0)
    expect(backup.stdout).toMatch(new RegExp(`^done in [\\d.]+ s: 8 documents, ${FIXTURE_VERSIONS} versions, \\d+ bytes written to ${file}\\n$`))
    expect(backup.stderr.split('\n').filter(Boolean)).toEqual(FIXTURE_NAMES.map((name, i) => expect.stringMatching(`^backed up ${i + 1}/8: ${name}`)))
    expect(existsSync(`${file}.partial`)).toBe(false)

    await wipe({ dir })
    const restore = await quire(['restore', file, '--data', dir])
    expect(restore.code, restore.stderr).toBe(0)
    expect(restore.stdout).toMatch(restoreSummary(8, 8, 0, 0, 0, FIXTURE_VERSIONS))
    expect(restore.stderr).toMatch(/^restored 4\/8: paper \(restored, 2 versions\)$/m)
    expectSameContents(await contentsAt({ dir }), before)

    const again = await quire(['restore', file, '--data', dir])
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toMatch(restoreSummary(8, 0, 0, 8, 0, 0))
    expectSameContents(await contentsAt({ dir }), before)
  })

  it('PostgreSQL: backup, wipe, restore gives every document and version back byte for byte', async () => {
    const where = { url: database.url, schema: randomSchema() }
    await withStore(where, seedFixtures)
    const before = await contentsAt(where)
    const file = join(await tempDir(), 'pg.backup')
    const backup = await quire(['backup', file, ...whereArgs(where)])
    expect(backup.code, backup.stderr).toBe(0)

    await wipe(where)
    const restore = await quire(['restore', file, ...whereArgs(where)])
    expect(restore.code, restore.stderr).toBe(0)
    expect(restore.stdout).toMatch(restoreSummary(8, 8, 0, 0, 0, FIXTURE_VERSIONS))
    expectSameContents(await contentsAt(where), before)

    // Across stores too: the LevelDB backup into a fresh schema.
    const other = { url: database.url, schema: randomSchema() }
    const cross = await quire(['restore', backupFile, ...whereArgs(other)])
    expect(cross.code, cross.stderr).toBe(0)
    expectSameContents(await contentsAt(other), fixtures)
  })

  it('reports a document that differs as a conflict, leaves it alone, restores the rest and exits 1', async () => {
    const dir = await tempDir()
    const other = new Y.Doc()
    other.getText('t').insert(0, 'not what the backup holds')
    await withStore({ dir }, async (store) => {
      await store.append('plain', Y.encodeStateAsUpdate(other))
      // Same content as the backup, but only its first version: an interrupted restore.
      const versions = fixtures.docs.get('versions')!
      await store.append('versions', versions.state)
      await store.versions.create('versions', versions.versions[0]!.label, versions.versions[0]!.state)
    })
    const run = await quire(['restore', backupFile, '--data', dir])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^conflict: plain: it exists with other content than the backup; left as it is$/m)
    expect(run.stderr).toMatch(/^restored 6\/8: versions \(completed, 3 versions\)$/m)
    expect(run.stderr).toMatch(/\nquire: 1 document left as they are in .* \(conflicts above\)\n$/)
    expect(run.stdout).toMatch(restoreSummary(8, 6, 1, 0, 1, FIXTURE_VERSIONS - 1))
    const after = await contentsAt({ dir })
    expect(Buffer.from(after.docs.get('plain')!.state).equals(Buffer.from(Y.encodeStateAsUpdate(other)))).toBe(true)
    after.docs.delete('plain')
    after.names = after.names.filter((name) => name !== 'plain')
    const expected = { names: fixtures.names.filter((name) => name !== 'plain'), docs: fixtures.docs }
    expectSameContents(after, expected)
  })

  it('refuses to replace an existing backup file unless --force, and never leaves a half-written one', async () => {
    const file = join(await tempDir(), 'exists.backup')
    await writeFile(file, 'keep me')
    const refused = await quire(['backup', file, '--data', seeded])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toBe(`quire: ${file} exists: pass --force to replace it\n`)
    expect(await readFile(file, 'utf8')).toBe('keep me')
    const forced = await quire(['backup', file, '--data', seeded, '--force'])
    expect(forced.code, forced.stderr).toBe(0)
    expect(await readFile(file)).toHaveLength((await readFile(backupFile)).byteLength)
  })
})

describe('quire restore refuses a damaged backup, writing nothing', () => {
  const cases: Array<{ what: string; damage: (bytes: Buffer) => Buffer; message: RegExp }> = [
    { what: 'an empty file', damage: () => Buffer.alloc(0), message: /not a Quire backup: it is empty/ },
    { what: 'another file', damage: () => Buffer.from('{"hello":1}\nmore'), message: /not a Quire backup: it does not start with a quire-backup header line/ },
    { what: 'a newer format', damage: (b) => Buffer.concat([Buffer.from('{"format":"quire-backup","version":2}\n'), b.subarray(b.indexOf(0x0a) + 1)]), message: /format version 2 is newer than this Quire reads \(1\)/ },
    { what: 'a cut inside a record', damage: (b) => b.subarray(0, Math.floor(b.byteLength / 2)), message: /backup is truncated: it ends inside the record at byte \d+ \(.*\), after \d+ complete documents?/ },
    { what: 'a cut before the end record', damage: (b) => b.subarray(0, endRecordAt(b)), message: /backup is truncated: it ends at byte \d+, after 8 complete documents, where the next document, or the end record should come/ },
    { what: 'a cut inside the end record', damage: (b) => b.subarray(0, b.byteLength - 3), message: /backup is truncated: it ends inside the record at byte \d+/ },
    { what: 'a flipped byte', damage: (b) => flip(b, Math.floor(b.byteLength * 0.7)), message: /backup is corrupt: .*fails its checksum|backup is corrupt/ },
    { what: 'bytes after the end record', damage: (b) => Buffer.concat([b, Buffer.from('x')]), message: /backup is corrupt: bytes follow its end record/ },
  ]

  it.each(cases)('$what', async ({ damage, message }) => {
    const dir = join(await tempDir(), 'never-created')
    const file = join(await tempDir(), 'damaged.backup')
    await writeFile(file, damage(await readFile(backupFile)))
    const run = await quire(['restore', file, '--data', dir])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/^quire: [^\n]+; nothing was restored\n$/)
    expect(run.stderr).toMatch(message)
    expect(run.stdout).toBe('')
    expect(existsSync(dir)).toBe(false)
  })
})

describe('quire backup and restore through a running server', () => {
  it('backup, restore into another server: byte for byte; live clients get the content; again skips all', async () => {
    const source = await startServer({ dataDir: await copyOf(seeded) })
    const file = join(await tempDir(), 'server.backup')
    const backup = await quire(['backup', file, '--server', serverUrl(source)])
    expect(backup.code, backup.stderr).toBe(0)
    expect(backup.stdout).toMatch(new RegExp(`: 8 documents, ${FIXTURE_VERSIONS} versions, \\d+ bytes written`))
    expect(backup.stderr).toMatch(/^backed up 8: ünïcødé\/文档 🚀$/m)
    // The same records as a backup of the stopped store (the header's time aside).
    const [fromServer, fromStore] = [await documentsIn(file), await documentsIn(backupFile)]
    expect(fromServer).toEqual(fromStore)

    const target = await startServer()
    // Someone has one of the documents open (still empty) while it is restored.
    const watcher = connect(target.url, 'plain')
    await synced(watcher)
    const restore = await quire(['restore', file, '--server', serverUrl(target)])
    expect(restore.code, restore.stderr).toBe(0)
    expect(restore.stdout).toMatch(restoreSummary(8, 8, 0, 0, 0, FIXTURE_VERSIONS))
    expect(restore.stderr).toMatch(/^sent 8\/8: ünïcødé\/文档 🚀$/m)
    await waitFor(() => watcher.doc.getText('t').toString() === 'hello world', 'the live client to receive the restored content')
    expectSameContents(await contentsOf(target.app.quire.store), fixtures)

    const again = await quire(['restore', file, '--server', serverUrl(target)])
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toMatch(restoreSummary(8, 0, 0, 8, 0, 0))
  })

  it('reports conflicts from the server, and refuses a truncated file before sending anything', async () => {
    const target = await startServer()
    const other = new Y.Doc()
    other.getText('t').insert(0, 'on the server already')
    await fetch(`${serverUrl(target)}/api/docs/plain/update`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Y.encodeStateAsUpdate(other) })

    const file = join(await tempDir(), 'cut.backup')
    const bytes = await readFile(backupFile)
    await writeFile(file, bytes.subarray(0, endRecordAt(bytes)))
    const cut = await quire(['restore', file, '--server', serverUrl(target)])
    expect(cut.code).toBe(2)
    expect(cut.stderr).toMatch(/^quire: .*backup is truncated.*; nothing was restored\n$/)
    expect((await contentsOf(target.app.quire.store)).names).toEqual(['plain'])

    const run = await quire(['restore', backupFile, '--server', serverUrl(target)])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^conflict: plain: it exists with other content than the backup; left as it is$/m)
    expect(run.stdout).toMatch(restoreSummary(8, 7, 0, 0, 1, FIXTURE_VERSIONS))
  })

  it('POST /api/restore refuses a cut-off body at the first bad record and says what it restored', async () => {
    const target = await startServer()
    const bytes = await readFile(backupFile)
    const response = await fetch(`${serverUrl(target)}/api/restore`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes.subarray(0, endRecordAt(bytes) - 10),
    })
    expect(response.status).toBe(400)
    const body = (await response.json()) as { message: string }
    expect(body.message).toMatch(/^backup is truncated: it ends inside the record at byte \d+ \(.*\), after 7 complete documents; the 7 documents before it were restored$/)
    expect((await contentsOf(target.app.quire.store)).names).toEqual(FIXTURE_NAMES.slice(0, 7))
  })

  it('a LevelDB directory a server holds is refused, pointing to --server', async () => {
    const server = await startServer()
    const run = await quire(['backup', join(await tempDir(), 'x.backup'), '--data', server.dataDir])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`quire: data dir ${server.dataDir} is in use by a running server: stop it first, or reach it through the server with --server http://host:port\n`)
  })
})

/** The documents of a backup file, as read back. */
async function documentsIn(file: string) {
  const { createReadStream } = await import('node:fs')
  const docs = []
  for await (const doc of new BackupReader(createReadStream(file)).documents()) docs.push(doc)
  return docs
}

/** Where the end record starts: the last record, 9 + its JSON + 4 bytes before the end. */
function endRecordAt(bytes: Buffer): number {
  for (let at = bytes.byteLength - 13; at > 0; at--) {
    if (bytes[at] === 0x45 && bytes.readUInt32BE(at + 1) === bytes.byteLength - at - 13 && bytes.readUInt32BE(at + 5) === 0) return at
  }
  throw new Error('no end record')
}

function flip(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes)
  copy[at] = copy[at]! ^ 0xff
  return copy
}

/** A copy of a LevelDB directory, for a server to own. */
async function copyOf(dir: string): Promise<string> {
  const { cp } = await import('node:fs/promises')
  const copy = join(await tempDir(), 'copy')
  await cp(dir, copy, { recursive: true })
  return copy
}
