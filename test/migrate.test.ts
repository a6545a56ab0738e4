/**
 * `quire migrate` as a real process between real stores: LevelDB directories and PostgreSQL
 * schemas. Documents keep their content (byte for byte once loaded) and their versions (ids,
 * labels, states); a second run copies nothing; an interrupted run is finished without duplicates;
 * conflicting documents are reported and left alone; unusable stores are refused up front.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { LevelDocStore } from '../src/storage/leveldb.js'
import { PostgresDocStore } from '../src/storage/postgres.js'
import type { DocStore } from '../src/storage/doc-store.js'
import { cleanup, tempDir, withTimeout } from './helpers.js'
import { killChildren, startChild } from './child-server.js'
import { createTestDatabase, randomSchema, type TestDatabase } from './postgres-helpers.js'
import { FIXTURE_NAMES, FIXTURE_VERSIONS, appendEdits, seedFixtures, stateOf } from './ops-helpers.js'

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

let database: TestDatabase
let seeded: string // a LevelDB directory with the fixture documents, only ever read by the tests
const runs = new Set<ChildProcess>()

beforeAll(async () => {
  database = await createTestDatabase()
  seeded = await tempDir('quire-migrate-seed-')
  await withStore({ dir: seeded }, seedFixtures)
}, 60_000)
afterEach(async () => {
  for (const child of runs) child.kill('SIGKILL')
  await killChildren()
})
afterAll(async () => {
  await cleanup()
  await database?.drop()
})

type Where = { dir: string } | { schema: string }
const pgUrl = (schema: string) => ({ url: database.url, schema })
/** CLI arguments naming a store on one side. */
const side = (flag: '--from' | '--to', where: Where) =>
  'dir' in where ? [flag, where.dir] : [flag, database.url, `${flag}-schema`, where.schema]

async function withStore<T>(where: Where, use: (store: DocStore) => Promise<T>): Promise<T> {
  const store = 'dir' in where ? await LevelDocStore.open(where.dir) : await PostgresDocStore.open({ connectionString: pgUrl(where.schema).url, schema: where.schema })
  try {
    return await use(store)
  } finally {
    await store.close()
  }
}

interface Run {
  child: ChildProcess
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stdout: string
  stderr: string
}

/** `quire migrate ...args` as a child process. */
function quireMigrate(args: string[], command = ['migrate']): Run {
  const child = spawn(process.execPath, [CLI, ...command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  runs.add(child)
  const run: Run = { child, exited: null as never, stdout: '', stderr: '' }
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (run.stdout += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (run.stderr += chunk))
  run.exited = withTimeout(
    new Promise((resolve, reject) => {
      child.once('error', reject)
      child.once('close', (code, signal) => {
        runs.delete(child)
        resolve({ code, signal })
      })
    }),
    60_000,
    'quire migrate to exit',
  )
  return run
}

async function migrate(from: Where, to: Where): Promise<Run> {
  const run = quireMigrate([...side('--from', from), ...side('--to', to)])
  await run.exited
  return run
}

const summary = (docs: number, copied: number, completed: number, skipped: number, conflicts: number, versions: number) =>
  new RegExp(`: ${docs} documents \\(${copied} copied, ${completed} completed, ${skipped} skipped, ${conflicts} conflicts\\), ${versions} versions copied, \\d+ bytes written\\n$`)

// ---------------------------------------------------------------------------------------------

interface Contents {
  names: string[]
  docs: Map<string, { state: Uint8Array; versions: Array<{ id: number; label: string; state: Uint8Array }>; logUpdates: number }>
}

/** Everything a store holds, read through the DocStore interface: names in order, states, versions. */
async function contentsOf(where: Where): Promise<Contents> {
  return withStore(where, async (store) => {
    const contents: Contents = { names: [], docs: new Map() }
    let after: string | undefined
    for (;;) {
      const page = await store.list({ after, limit: 50 })
      for (const info of page) {
        const doc = new Y.Doc()
        for (const update of (await store.load(info.name)).updates) Y.applyUpdate(doc, update)
        const versions = []
        for (const version of await store.versions.list(info.name)) {
          const stored = (await store.versions.read(info.name, version.id))!
          versions.push({ id: version.id, label: version.label, state: stored.state })
        }
        contents.names.push(info.name)
        contents.docs.set(info.name, { state: Y.encodeStateAsUpdate(doc), versions, logUpdates: info.logUpdates })
        doc.destroy()
      }
      if (page.length < 50) return contents
      after = page.at(-1)!.name
    }
  })
}

/** Same documents, same content bytes, same versions; the target's content is compacted. */
function expectSameContents(target: Contents, source: Contents): void {
  expect(target.names).toEqual(source.names)
  for (const name of source.names) {
    const [theirs, ours] = [target.docs.get(name)!, source.docs.get(name)!]
    expect(Buffer.from(theirs.state).equals(Buffer.from(ours.state)), `content of ${name}`).toBe(true)
    expect(theirs.versions.map((v) => [v.id, v.label])).toEqual(ours.versions.map((v) => [v.id, v.label]))
    for (const [i, version] of ours.versions.entries()) {
      expect(Buffer.from(theirs.versions[i]!.state).equals(Buffer.from(version.state)), `version ${version.id} of ${name}`).toBe(true)
    }
    expect(theirs.logUpdates, `log of ${name}`).toBe(0)
  }
}

// ---------------------------------------------------------------------------------------------

describe('quire migrate', () => {
  it('round trip LevelDB → PostgreSQL → LevelDB keeps every document and version', async () => {
    const source = await contentsOf({ dir: seeded })
    expect(source.names).toEqual(FIXTURE_NAMES)
    const pgSide = { schema: randomSchema() }
    const back = { dir: join(await tempDir(), 'back') }

    const there = await migrate({ dir: seeded }, pgSide)
    expect(there.stderr.split('\n').filter(Boolean)).toEqual(FIXTURE_NAMES.map((name, i) => expect.stringMatching(`^migrated ${i + 1}/8: ${name} \\(copied`)))
    expect(there.stdout).toMatch(summary(8, 8, 0, 0, 0, FIXTURE_VERSIONS))
    expect(await there.exited).toEqual({ code: 0, signal: null })
    expectSameContents(await contentsOf(pgSide), source)

    const home = await migrate(pgSide, back)
    expect(home.stdout).toMatch(summary(8, 8, 0, 0, 0, FIXTURE_VERSIONS))
    expect(await home.exited).toEqual({ code: 0, signal: null })
    expectSameContents(await contentsOf(back), source)
  })

  it('copies nothing the second time', async () => {
    const pgSide = { schema: randomSchema() }
    expect((await (await migrate({ dir: seeded }, pgSide)).exited).code).toBe(0)
    const first = await contentsOf(pgSide)

    const again = await migrate({ dir: seeded }, pgSide)
    expect(await again.exited).toEqual({ code: 0, signal: null })
    expect(again.stdout).toMatch(/\(0 copied, 0 completed, 8 skipped, 0 conflicts\), 0 versions copied, 0 bytes written\n$/)
    expect(again.stderr).toMatch(/^migrated 8\/8: ünïcødé\/文档 🚀 \(skipped\)$/m)
    expectSameContents(await contentsOf(pgSide), first)
  })

  it('finishes documents a previous run left half done, without duplicating versions', async () => {
    const target = { schema: randomSchema() }
    await withStore({ dir: seeded }, async (source) =>
      withStore(target, async (store) => {
        // Stopped after the content, before the compaction and the versions.
        await store.append('paper', Y.mergeUpdates((await source.load('paper')).updates))
        // Stopped after two of the four versions.
        await store.append('versions', Y.mergeUpdates((await source.load('versions')).updates))
        await store.compact('versions')
        for (const id of [1, 2]) {
          const version = (await source.versions.read('versions', id))!
          await store.versions.create('versions', version.info.label, version.state)
        }
      }),
    )
    const run = await migrate({ dir: seeded }, target)
    expect(run.stderr).toMatch(/^migrated 4\/8: paper \(completed, 2 versions\)$/m)
    expect(run.stderr).toMatch(/^migrated 6\/8: versions \(completed, 2 versions\)$/m)
    expect(run.stdout).toMatch(summary(8, 6, 2, 0, 0, FIXTURE_VERSIONS - 2))
    expect(await run.exited).toEqual({ code: 0, signal: null })
    expectSameContents(await contentsOf(target), await contentsOf({ dir: seeded }))
  })

  it('finishes the job after being killed midway', async () => {
    const many = await tempDir()
    const names = Array.from({ length: 400 }, (_, i) => `doc-${String(i).padStart(3, '0')}`)
    await withStore({ dir: many }, async (store) => {
      await Promise.all(
        names.map(async (name, i) => {
          const doc = new Y.Doc()
          await appendEdits(store, name, doc, () => doc.getText('t').insert(0, `document ${i}`))
          await store.versions.create(name, 'one', Y.encodeStateAsUpdate(doc))
          await appendEdits(store, name, doc, () => doc.getText('t').insert(0, 'more: '))
          await store.versions.create(name, 'two', Y.encodeStateAsUpdate(doc))
        }),
      )
    })
    const target = { schema: randomSchema() }
    const killed = quireMigrate([...side('--from', { dir: many }), ...side('--to', target)])
    await withTimeout(
      new Promise<void>((resolve) => killed.child.stderr!.on('data', () => killed.stderr.includes('migrated 1/400') && resolve())),
      30_000,
      'the first progress line',
    )
    killed.child.kill('SIGKILL')
    expect(await killed.exited).toEqual({ code: null, signal: 'SIGKILL' })
    const partial = await contentsOf(target)
    expect(partial.names.length).toBeGreaterThan(0)
    expect(partial.names.length).toBeLessThan(400)

    const resumed = await migrate({ dir: many }, target)
    expect(await resumed.exited).toEqual({ code: 0, signal: null })
    const done = /: 400 documents \((\d+) copied, (\d+) completed, (\d+) skipped, 0 conflicts\)/.exec(resumed.stdout)!
    expect(Number(done[1]) + Number(done[2]) + Number(done[3])).toBe(400)
    expect(Number(done[1])).toBe(400 - partial.names.length)
    const result = await contentsOf(target)
    expectSameContents(result, await contentsOf({ dir: many }))
    for (const name of names) expect(result.docs.get(name)!.versions.map((v) => v.id)).toEqual([1, 2])
  })

  it('reports a conflicting document, leaves it alone, copies the rest and exits 1', async () => {
    const source = { dir: await tempDir() }
    const target = { dir: await tempDir() }
    const text = (s: string) => stateOf((doc) => doc.getText('t').insert(0, s))
    const same = text('same in both')
    await withStore(source, async (store) => {
      await store.append('labels', same)
      await store.versions.create('labels', 'ours', same)
      await store.append('other', text('only in the source'))
      await store.append('shared', text('the source says this'))
    })
    await withStore(target, async (store) => {
      await store.append('labels', same)
      await store.versions.create('labels', 'theirs', same)
      await store.append('shared', text('the target says that'))
    })
    const before = await contentsOf(target)

    const run = await migrate(source, target)
    expect(await run.exited).toEqual({ code: 1, signal: null })
    expect(run.stderr).toMatch(/^conflict: labels: version 1 differs between source and target; left as it is$/m)
    expect(run.stderr).toMatch(/^conflict: shared: its content in the target differs from the source; left as it is$/m)
    expect(run.stderr).toMatch(/\nquire: 2 documents left as they are in the target \(conflicts above\)\n$/)
    expect(run.stdout).toMatch(summary(3, 1, 0, 0, 2, 0))
    const after = await contentsOf(target)
    expect(after.names).toEqual(['labels', 'other', 'shared'])
    for (const name of ['labels', 'shared']) expect(after.docs.get(name)).toEqual(before.docs.get(name))
  })
})

describe('quire migrate refuses, in one line and with exit status 2', () => {
  it.each<{ what: string; args: (dir: string) => string[]; message: RegExp }>([
    { what: 'no --to', args: () => ['--from', seeded], message: /needs both --from and --to/ },
    { what: 'a stray argument', args: (dir) => ['--from', seeded, join(dir, 'out')], message: /Unexpected argument/ },
    { what: 'no --from', args: (dir) => ['--to', join(dir, 'out')], message: /needs both --from and --to/ },
    { what: 'no arguments', args: () => [], message: /needs both --from and --to/ },
    { what: 'the same directory twice', args: () => ['--from', seeded, '--to', `${seeded}/./`], message: /are the same store/ },
    {
      what: 'the same PostgreSQL schema twice',
      args: () => ['--from', database.url, '--to', database.url.replace('postgres@127.0.0.1', 'postgres:s3cret@localhost'), '--from-schema', 'q', '--to-schema', 'q'],
      message: /are the same store/,
    },
    { what: 'a source directory that does not exist', args: (dir) => ['--from', join(dir, 'missing'), '--to', join(dir, 'out')], message: /source data dir .*missing does not exist/ },
    {
      what: 'a PostgreSQL source without Quire tables',
      args: (dir) => ['--from', database.url, '--from-schema', randomSchema(), '--to', join(dir, 'out')],
      message: /holds no Quire documents/,
    },
    { what: 'a schema for a directory', args: (dir) => ['--from', seeded, '--from-schema', 'x', '--to', join(dir, 'out')], message: /--from-schema applies only to a postgres/ },
  ])('$what', async ({ args, message }) => {
    const dir = await tempDir()
    const run = quireMigrate(args(dir))
    expect(await run.exited).toEqual({ code: 2, signal: null })
    expect(run.stderr).toMatch(/^quire: [^\n]+\n$/)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toContain('s3cret')
    expect(run.stdout).toBe('')
    for (const created of ['out', 'missing']) expect(existsSync(join(dir, created))).toBe(false)
  })

  it('a directory a running server holds, as source or as target', async () => {
    const held = await tempDir()
    await startChild({ dataDir: held })
    const free = join(await tempDir(), 'free')
    for (const args of [['--from', held, '--to', free], ['--from', seeded, '--to', held]]) {
      const run = quireMigrate(args)
      expect(await run.exited).toEqual({ code: 2, signal: null })
      expect(run.stderr).toBe(`quire: data dir ${held} is in use by a running server: stop it first\n`)
    }
    expect(existsSync(free)).toBe(false)
  })

  it('prints its usage for --help, and the top-level usage names it', async () => {
    const help = quireMigrate(['--help'])
    expect(await help.exited).toEqual({ code: 0, signal: null })
    expect(help.stdout).toMatch(/^Usage: quire migrate --from <store> --to <store>/)
    expect(help.stdout).toContain('--to-schema')
    const top = quireMigrate([], ['--help'])
    expect(await top.exited).toEqual({ code: 0, signal: null })
    expect(top.stdout).toContain('quire migrate --from')
  })
})
