/**
 * `quire export` and `quire import` as real processes: an update exported and imported elsewhere
 * exports to the same bytes, on a stopped store and through a running server, for a document
 * built from a real editing trace; JSON and text are what the REST API exports; a binary update
 * never goes to a terminal; updates that cannot be applied are refused and change nothing.
 */
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as Y from 'yjs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { cleanup, startServer, tempDir, withTimeout } from './helpers.js'
import { CLI, appendEdits, killCommands, quire, replayTrace, withStore } from './ops-helpers.js'

let dir: string // LevelDB with "paper" (3000 edits of a real trace, one update each) and "mixed"
let paperState: Uint8Array
let exported: string // `quire export paper --out`

beforeAll(async () => {
  dir = await tempDir('quire-ops-export-')
  await withStore({ dir }, async (store) => {
    const paper = new Y.Doc()
    await appendEdits(store, 'paper', paper, () => replayTrace(paper, 0, 3000))
    paperState = Y.encodeStateAsUpdate(paper)
    const mixed = new Y.Doc()
    await appendEdits(store, 'mixed', mixed, () => {
      mixed.getText('title').insert(0, 'Mixed ✓')
      mixed.getMap('meta').set('tags', ['a', 'b'])
      const p = new Y.XmlElement('paragraph')
      p.insert(0, [new Y.XmlText('body text')])
      mixed.getXmlFragment('prose').insert(0, [p])
    })
  })
  exported = join(await tempDir(), 'paper.update')
  const run = await quire(['export', 'paper', '--data', dir, '--out', exported])
  expect(run.code, run.stderr).toBe(0)
}, 60_000)
afterEach(killCommands)
afterAll(cleanup)

const text = (doc: Y.Doc) => doc.getText('text').toString()

describe('quire export and import', () => {
  it('an update exported, imported into another store and exported again is the same bytes', async () => {
    const bytes = await readFile(exported)
    expect(bytes.equals(Buffer.from(paperState))).toBe(true)
    const doc = new Y.Doc()
    Y.applyUpdate(doc, bytes)
    expect(text(doc).length).toBeGreaterThan(1000)

    const stdout = await quire(['export', 'paper', '--data', dir])
    expect(stdout.code, stdout.stderr).toBe(0)
    expect(stdout.bytes.equals(bytes)).toBe(true)

    const other = await tempDir()
    const imported = await quire(['import', 'copy', exported, '--data', other])
    expect(imported.code, imported.stderr).toBe(0)
    expect(imported.stdout).toBe(`imported ${exported} (${bytes.byteLength} bytes) into "copy" at ${other}: document created\n`)
    const back = await quire(['export', 'copy', '--data', other])
    expect(back.bytes.equals(bytes)).toBe(true)

    const again = await quire(['import', 'copy', exported, '--data', other])
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(/: nothing new: the document already held all of it\n$/)
    await withStore({ dir: other }, async (store) => expect((await store.info('copy'))!.seq).toBe(1))
  })

  it('through a running server: import is a server edit, export the same bytes as the REST export', async () => {
    const server = await startServer()
    const url = `http://127.0.0.1:${server.port}`
    const imported = await quire(['import', 'team/paper', exported, '--server', url])
    expect(imported.code, imported.stderr).toBe(0)
    expect(imported.stdout).toMatch(/into "team\/paper" at http:\/\/127\.0\.0\.1:\d+: document created\n$/)
    const rest = Buffer.from(await (await fetch(`${url}/api/docs/team%2Fpaper/update`)).arrayBuffer())
    const cli = await quire(['export', 'team/paper', '--server', url])
    expect(cli.code, cli.stderr).toBe(0)
    expect(cli.bytes.equals(rest)).toBe(true)
    expect(cli.bytes.equals(await readFile(exported))).toBe(true)

    // JSON and text as the REST API exports them, whether computed here or there.
    await quire(['import', 'mixed', await exportFile('mixed'), '--server', url])
    for (const [format, key, path] of [['json', undefined, '/json'], ['json', 'meta', '/json?key=meta'], ['text', 'title', '/text?key=title'], ['text', 'prose', '/text?key=prose']] as const) {
      const expected = await (await fetch(`${url}/api/docs/mixed${path}`)).text()
      for (const where of [['--data', dir], ['--server', url]]) {
        const run = await quire(['export', 'mixed', '--format', format, ...(key ? ['--key', key] : []), ...where])
        expect(run.code, run.stderr).toBe(0)
        expect(run.stdout, `${format} ${key} ${where[0]}`).toBe(expected)
      }
    }
    expect((await quire(['export', 'paper', '--format', 'text', '--data', dir])).stdout).toBe(text(docOf(paperState)))
  })

  it('never writes a binary update to a terminal; json goes there with a final newline', async () => {
    const refused = await inTerminal(['export', 'paper', '--data', dir])
    expect(refused.code).toBe(2)
    expect(refused.output).toContain('quire: not writing a binary Yjs update to a terminal: add --out <file>, redirect stdout (> file), or use --format json or text')
    const json = await inTerminal(['export', 'mixed', '--format', 'json', '--key', 'title', '--data', dir])
    expect(json.code).toBe(0)
    expect(json.output).toBe('"Mixed ✓"\r\n')
  })

  it('refuses files that are no update, and updates the document cannot take, changing nothing', async () => {
    const target = await tempDir()
    const garbage = join(await tempDir(), 'garbage')
    await writeFile(garbage, 'not an update at all')
    const bad = await quire(['import', 'doc', garbage, '--data', target])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toBe(`quire: ${garbage} is not a Yjs update in format v1 (for v2, pass --encoding v2)\n`)

    // An edit on top of content the target does not have.
    const base = new Y.Doc()
    base.getText('t').insert(0, 'base')
    const baseUpdate = Y.encodeStateAsUpdate(base)
    const vector = Y.encodeStateVector(base)
    base.getText('t').insert(4, ' and more')
    const dependent = join(await tempDir(), 'dependent')
    await writeFile(dependent, Y.encodeStateAsUpdate(base, vector))
    for (const where of [['--data', target], ['--server', `http://127.0.0.1:${(await startServer()).port}`]]) {
      const run = await quire(['import', 'doc', dependent, ...where])
      expect(run.code).toBe(2)
      expect(run.stderr).toMatch(/^quire: .*dependent cannot be applied to "doc": .*update depends on changes this document does not have: /)
    }
    await withStore({ dir: target }, async (store) => expect(await store.info('doc')).toBeNull())

    // v2 with --encoding v2; afterwards the dependent update applies.
    const v2 = join(await tempDir(), 'v2')
    await writeFile(v2, Y.convertUpdateFormatV1ToV2(baseUpdate))
    const ok = await quire(['import', 'doc', v2, '--encoding', 'v2', '--data', target])
    expect(ok.code, ok.stderr).toBe(0)
    expect((await quire(['import', 'doc', dependent, '--data', target])).stdout).toMatch(/: applied\n$/)
    expect((await quire(['export', 'doc', '--format', 'text', '--data', target])).stdout).toBe('base and more')
  })

  it('an unknown document is a failure (1); bad options are refused (2)', async () => {
    const missing = await quire(['export', 'nope', '--data', dir])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe(`quire: document "nope" not found in ${dir}\n`)
    for (const args of [['export'], ['export', 'paper', '--format', 'pdf'], ['export', 'paper', '--data', dir, '--server', 'http://x'], ['import', 'doc']]) {
      const run = await quire([...args, ...(args.includes('--data') ? [] : ['--data', dir])])
      expect(run.code, args.join(' ')).toBe(2)
      expect(run.stderr).toMatch(/^quire: [^\n]+\n$/)
    }
    const text = await quire(['export', 'mixed', '--format', 'text', '--data', dir])
    expect(text.code).toBe(1)
    expect(text.stderr).toBe('quire: --format text needs --key: "mixed" has the top-level types "title", "meta", "prose"\n')
  })
})

function docOf(update: Uint8Array): Y.Doc {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, update)
  return doc
}

async function exportFile(name: string): Promise<string> {
  const file = join(await tempDir(), `${name}.update`)
  const run = await quire(['export', name, '--data', dir, '--out', file])
  expect(run.code, run.stderr).toBe(0)
  return file
}

/** Runs the command with stdout and stderr on a terminal (util-linux `script`), returning what the terminal showed. */
async function inTerminal(args: string[]): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, CLI, ...args].map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(' ')
  const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const code = await withTimeout(new Promise<number | null>((resolve) => child.once('close', resolve)), 30_000, 'the command in a terminal')
  return { code, output }
}
