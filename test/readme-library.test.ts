/**
 * The README's "Use it as a library" snippet runs as written (only its ports become 0, so it
 * cannot collide with anything), and opening one data dir twice in a process says so.
 */
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, tempDir, withTimeout } from './helpers.js'
import { DataDirInUseError, LevelDocStore } from '../src/index.js'

afterEach(cleanup)

const ROOT = join(import.meta.dirname, '..')

function librarySnippet(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Use it as a library'))
  const block = /```ts\n([\s\S]*?)```/.exec(section)
  if (!block) throw new Error('no ts block under "Use it as a library"')
  return block[1]!
}

describe('README: use it as a library', () => {
  it('the snippet starts both servers as written', async () => {
    const dir = await tempDir()
    const script = librarySnippet()
      .replace("from 'quire-server'", `from ${JSON.stringify(join(ROOT, 'dist/index.js'))}`)
      .replace("from 'fastify'", `from ${JSON.stringify(join(ROOT, 'node_modules/fastify/fastify.js'))}`)
      .replace(/port: \d+/g, 'port: 0')
    expect(script).toContain("dataDir: './data'")
    writeFileSync(join(dir, 'snippet.mjs'), `${script}\nconsole.log('both listening')\nawait server.close()\nawait app.close()\n`)
    const child = spawn(process.execPath, ['snippet.mjs'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()))
    const code = await withTimeout(new Promise<number | null>((resolve) => child.on('close', resolve)), 20_000, 'the snippet')
    expect(out).toContain('both listening')
    expect(code).toBe(0)
  })

  it('opening a data dir twice in one process says so, not "another process"', async () => {
    const dir = await tempDir()
    const store = await LevelDocStore.open(dir)
    const second = LevelDocStore.open(dir)
    await expect(second).rejects.toBeInstanceOf(DataDirInUseError)
    await expect(second).rejects.toThrow(/already open in this process/)
    await store.close()
    await (await LevelDocStore.open(dir)).close() // free again once closed
  })
})
