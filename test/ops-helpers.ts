/**
 * Helpers for the operator command tests (test/ops-*.test.ts): `quire <command>` as a real
 * process (dist/cli.js, built by `npm run build`), stores opened directly to seed and to compare,
 * fixture documents, and a document built from a real editing trace.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import * as Y from 'yjs'
import { expect } from 'vitest'
import { LevelDocStore } from '../src/storage/leveldb.js'
import { PostgresDocStore } from '../src/storage/postgres.js'
import type { DocStore } from '../src/storage/doc-store.js'
import { withTimeout } from './helpers.js'

export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TRACE = [fileURLToPath(new URL('../bench/traces/automerge-paper.json.gz', import.meta.url)), '/work/shared/traces/automerge-paper.json.gz'].find((f) => existsSync(f))!

export interface CliRun {
  code: number | null
  signal: NodeJS.Signals | null
  /** stdout as bytes (exports are binary) and as text. */
  bytes: Buffer
  stdout: string
  stderr: string
}

const running = new Set<ChildProcess>()

/** Kills commands a failed test left running. Call in afterEach. */
export function killCommands(): void {
  for (const child of running) child.kill('SIGKILL')
}

/** `quire ...args` as a child process, without the runner's Quire settings or token in its environment. */
export async function quire(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`)
  const childEnv: NodeJS.ProcessEnv = { ...process.env }
  for (const key of ['QUIRE_TOKEN', 'DATA_DIR', 'DATABASE_URL', 'PORT']) delete childEnv[key]
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...childEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  const out: Buffer[] = []
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => out.push(chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const { code, signal } = await withTimeout(
    new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject)
      child.once('close', (code, signal) => resolve({ code, signal }))
    }),
    60_000,
    `quire ${args.join(' ')}`,
  ).finally(() => running.delete(child))
  const bytes = Buffer.concat(out)
  return { code, signal, bytes, stdout: bytes.toString('utf8'), stderr }
}

/** A stopped store: a LevelDB directory or a PostgreSQL schema. */
export type Where = { dir: string } | { url: string; schema: string }

export const whereArgs = (where: Where): string[] => ('dir' in where ? ['--data', where.dir] : ['--database-url', where.url, '--database-schema', where.schema])

export async function withStore<T>(where: Where, use: (store: DocStore) => Promise<T>): Promise<T> {
  const store = 'dir' in where ? await LevelDocStore.open(where.dir) : await PostgresDocStore.open({ connectionString: where.url, schema: where.schema })
  try {
    return await use(store)
  } finally {
    await store.close()
  }
}

/** Appends every change `edit` makes to `doc` as an update of its own, as a live room would. */
export async function appendEdits(store: DocStore, name: string, doc: Y.Doc, edit: () => void): Promise<void> {
  const updates: Uint8Array[] = []
  const record = (update: Uint8Array) => updates.push(update)
  doc.on('update', record)
  edit()
  doc.off('update', record)
  for (const update of updates) await store.append(name, update)
}

/** A Yjs update holding what `build` makes in a new document. */
export const stateOf = (build: (doc: Y.Doc) => void) => {
  const doc = new Y.Doc()
  build(doc)
  return Y.encodeStateAsUpdate(doc)
}

type Trace = { txns: Array<{ patches: Array<[number, number, string]> }> }
let trace: Trace | undefined

/** Replays edits `from`…`to` of the automerge-paper trace into `text`, one transaction per edit. */
export function replayTrace(doc: Y.Doc, from: number, to: number, text = doc.getText('text')): void {
  trace ??= JSON.parse(gunzipSync(readFileSync(TRACE)).toString('utf8')) as Trace
  for (const txn of trace.txns.slice(from, to)) {
    doc.transact(() => {
      for (const [pos, del, ins] of txn.patches) {
        if (del > 0) text.delete(pos, del)
        if (ins) text.insert(pos, ins)
      }
    })
  }
}

/** Names chosen so that byte order and linguistic order differ. */
export const FIXTURE_NAMES = ['Zebra', 'cleared', 'empty', 'paper', 'plain', 'versions', 'z/nested/with spaces', 'ünïcødé/文档 🚀']
export const FIXTURE_VERSIONS = 4 + 2

/** Documents of every kind: several updates, one state, empty, all deleted, versions, a real history. */
export async function seedFixtures(store: DocStore): Promise<void> {
  const plain = new Y.Doc()
  await appendEdits(store, 'plain', plain, () => {
    plain.getText('t').insert(0, 'hello')
    plain.getText('t').insert(5, ' world')
    plain.getMap('m').set('k', 1)
  })
  await store.append('Zebra', stateOf((doc) => doc.getArray('a').push([1, 'two', { three: 3 }])))
  await store.append('ünïcødé/文档 🚀', stateOf((doc) => doc.getText('t').insert(0, 'naïve café — 日本語 — 🚀✨')))
  await store.append('z/nested/with spaces', stateOf((doc) => doc.getXmlFragment('x').insert(0, [new Y.XmlElement('p')])))
  await store.append('empty', Y.encodeStateAsUpdate(new Y.Doc()))
  const cleared = new Y.Doc()
  await appendEdits(store, 'cleared', cleared, () => {
    cleared.getText('t').insert(0, 'gone soon')
    cleared.getText('t').delete(0, 9)
  })
  // Versions between edits, with a compaction in the middle: a base plus a log.
  const versions = new Y.Doc()
  for (const [i, label] of ['draft', '', 'révision 2 ✓', 'final'].entries()) {
    await appendEdits(store, 'versions', versions, () => versions.getText('t').insert(0, `step ${i} `))
    if (i === 1) await store.compact('versions')
    await store.versions.create('versions', label, Y.encodeStateAsUpdate(versions))
  }
  // A real editing history: 2000 edits of the automerge paper, one update each.
  const paper = new Y.Doc()
  await appendEdits(store, 'paper', paper, () => replayTrace(paper, 0, 1000))
  await store.versions.create('paper', 'half way', Y.encodeStateAsUpdate(paper))
  await store.compact('paper')
  await appendEdits(store, 'paper', paper, () => replayTrace(paper, 1000, 2000))
  await store.versions.create('paper', 'end', Y.encodeStateAsUpdate(paper))
}

export interface Contents {
  names: string[]
  docs: Map<string, { state: Uint8Array; versions: Array<{ id: number; label: string; state: Uint8Array }>; logUpdates: number }>
}

/** Everything a store holds, through the DocStore interface: names in order, content as loaded, versions. */
export async function contentsOf(store: DocStore): Promise<Contents> {
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
}

export const contentsAt = (where: Where) => withStore(where, contentsOf)

/** The same documents, content bytes (as loaded), version ids, labels and state bytes. */
export function expectSameContents(actual: Contents, expected: Contents): void {
  expect(actual.names).toEqual(expected.names)
  for (const name of expected.names) {
    const [theirs, ours] = [actual.docs.get(name)!, expected.docs.get(name)!]
    expect(Buffer.from(theirs.state).equals(Buffer.from(ours.state)), `content of ${name}`).toBe(true)
    expect(theirs.versions.map((v) => [v.id, v.label])).toEqual(ours.versions.map((v) => [v.id, v.label]))
    for (const [i, version] of ours.versions.entries()) {
      expect(Buffer.from(theirs.versions[i]!.state).equals(Buffer.from(version.state)), `version ${version.id} of ${name}`).toBe(true)
    }
  }
}

/** The summary line of `quire restore`. */
export const restoreSummary = (docs: number, restored: number, completed: number, skipped: number, conflicts: number, versions: number) =>
  new RegExp(
    `^done in [\\d.]+ s: ${docs} documents? \\(${restored} restored, ${completed} completed, ${skipped} skipped, ${conflicts} conflicts\\), ${versions} versions? restored, \\d+ bytes written\\n$`,
  )
