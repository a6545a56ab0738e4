/**
 * `quire serve` as a real process: data-dir locking, fail-fast configuration errors, SIGTERM
 * shutdown, and flags taking precedence over environment variables.
 */
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, connect, synced, tempDir, withTimeout } from './helpers.js'
import { atFirstSync, killChildren, spawnCli, startChild } from './child-server.js'

afterEach(async () => {
  await killChildren()
  await cleanup()
})

/** Waits for a process that is expected to exit on its own (a hang fails instead of blocking). */
const exitOf = (proc: { exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }) =>
  withTimeout(proc.exited, 10_000, 'the process to exit')

describe('quire serve', () => {
  it('refuses a data dir that another running server holds, and leaves that server alone', async () => {
    const dataDir = await tempDir()
    const first = await startChild({ dataDir })
    const second = spawnCli([], { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir })
    const exit = await exitOf(second)
    expect(exit.code).not.toBe(0)
    expect(exit.signal).toBeNull()
    expect(second.stderr).toMatch(/in use/)
    expect(second.stdout).not.toMatch(/Server listening/)

    // The first server still owns the directory and still serves.
    expect(first.child.exitCode).toBeNull()
    const provider = connect(first.url, 'still-here')
    await synced(provider)
  })

  it.each<{ what: string; args: string[]; env: Record<string, string>; names: string }>([
    { what: 'PORT=abc', args: [], env: { PORT: 'abc' }, names: 'PORT' },
    { what: 'PORT=70000', args: [], env: { PORT: '70000' }, names: 'PORT' },
    { what: '--port -1', args: ['--port', '-1'], env: {}, names: '--port' },
    { what: 'HOST="bad host!"', args: [], env: { HOST: 'bad host!' }, names: 'HOST' },
    { what: 'an unknown flag', args: ['--colour', 'blue'], env: {}, names: '--colour' },
    { what: 'MAX_FRAME_BYTES=0', args: [], env: { MAX_FRAME_BYTES: '0' }, names: 'MAX_FRAME_BYTES' },
  ])('rejects $what with a one-line reason before touching the data dir', async ({ args, env, names }) => {
    const dataDir = join(await tempDir(), 'data') // must not be created by a failed start
    const proc = spawnCli(args, { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ...env })
    const exit = await exitOf(proc)
    expect(exit.code).not.toBe(0)
    expect(exit.signal).toBeNull()
    const reason = proc.stderr.trimEnd()
    expect(reason).not.toContain('\n')
    expect(reason).toMatch(/^quire: /)
    expect(reason).toContain(names) // says which setting is wrong
    expect(proc.stdout).not.toMatch(/Server listening/)
    expect(existsSync(dataDir)).toBe(false)
  })

  it('exits 0 on SIGTERM with a provider connected, closing it with 1001 and keeping its edits', async () => {
    const dataDir = await tempDir()
    const first = await startChild({ dataDir })
    const editor = connect(first.url, 'term')
    await synced(editor)
    const closeCode = new Promise<number | undefined>((resolve) => {
      editor.once('connection-close', (event) => resolve((event as { code?: number } | null)?.code))
    })
    const text = editor.doc.getText('t')
    for (const word of ['one ', 'two ', 'three']) text.insert(text.length, word)
    editor.doc.getMap('m').set('k', 'v')
    // Signal right away: the edits are in flight, and a clean shutdown must still store them.
    first.child.kill('SIGTERM')
    expect(await exitOf(first)).toEqual({ code: 0, signal: null })
    expect(await closeCode).toBe(1001)
    editor.destroy() // must not re-upload into the next server

    const second = await startChild({ dataDir })
    const reader = connect(second.url, 'term')
    const seen = await atFirstSync(reader, (doc) => ({ text: doc.getText('t').toString(), k: doc.getMap('m').get('k') }))
    expect(seen).toEqual({ text: 'one two three', k: 'v' })
  })

  it('lets --port, --host and --data override PORT, HOST and DATA_DIR', async () => {
    const envDir = join(await tempDir(), 'from-env')
    const flagDir = join(await tempDir(), 'from-flag')
    // Each env value would visibly fail if used: port 1 (not the port we get), an address this
    // machine does not have (TEST-NET-3), and a directory that must stay uncreated.
    const env = { PORT: '1', HOST: '203.0.113.7', DATA_DIR: envDir }
    const args = ['--port', '0', '--host', '127.0.0.1', '--data', flagDir]
    const first = await startChild({ dataDir: envDir, env, args })
    expect(first.host).toBe('127.0.0.1')
    expect(first.port).not.toBe(1)
    const editor = connect(first.url, 'flags')
    await synced(editor)
    editor.doc.getText('t').insert(0, 'via flags')
    first.child.kill('SIGTERM')
    expect(await exitOf(first)).toEqual({ code: 0, signal: null })
    editor.destroy()
    expect(existsSync(envDir)).toBe(false)
    expect(readdirSync(flagDir)).toContain('CURRENT') // a LevelDB database

    // The document lives in the --data dir: a server started on it by env alone serves it.
    const second = await startChild({ dataDir: flagDir })
    const reader = connect(second.url, 'flags')
    expect(await atFirstSync(reader, (doc) => doc.getText('t').toString())).toBe('via flags')
  })
})
