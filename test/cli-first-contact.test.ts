/**
 * What a new user meets on the command line: --version and --help answer, the first start says
 * where to go, and mistakes get one line that names the mistake.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, tempDir } from './helpers.js'
import { killChildren, spawnCli, startChild } from './child-server.js'

afterEach(async () => {
  await killChildren()
  await cleanup()
})

const ROOT = join(import.meta.dirname, '..')
const quire = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'dist/cli.js'), ...args], { encoding: 'utf8' })
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }

describe('quire on the command line', () => {
  it('answers --version and -v with the package version', () => {
    for (const flag of ['--version', '-v']) {
      const run = quire(flag)
      expect(run.status).toBe(0)
      expect(run.stdout).toBe(`quire ${pkg.version}\n`)
    }
  })

  it('answers serve --help and -h with the options, exit 0, without starting', () => {
    for (const flag of ['--help', '-h']) {
      const run = quire('serve', '--port', '1', flag)
      expect(run.status).toBe(0)
      expect(run.stdout).toMatch(/^Usage: quire serve/)
      expect(run.stdout).toContain('--allowed-origins')
    }
  })

  it('says where to go once listening, after the auth warning and not before a failed start', async () => {
    const child = await startChild({ dataDir: await tempDir() })
    const ready = () => child.stdout.split('\n').find((line) => line.includes('Quire is ready'))
    await expect.poll(ready).toBeTruthy()
    expect(ready()).toContain(`demo editor http://127.0.0.1:${child.port}/`)
    expect(ready()).toContain(`ws://127.0.0.1:${child.port}/<document>`)

    const bad = spawnCli(['--host', 'nosuchhost.invalid'], { PORT: '0', DATA_DIR: await tempDir() })
    expect((await bad.exited).code).toBe(1)
    expect(bad.stderr).toBe('quire: cannot listen on nosuchhost.invalid: unknown host\n')
    expect(bad.stdout).not.toContain('AUTHENTICATION IS OFF')
  })

  it('gives one line for a negative port, a data dir that is a file, and takes LOG_LEVEL in any case', async () => {
    const negative = spawnCli(['--port', '-1'], { DATA_DIR: await tempDir() })
    expect(await negative.exited).toEqual({ code: 2, signal: null })
    expect(negative.stderr).toBe('quire: --port: "-1" is not an integer from 0 to 65535\n')

    const file = join(await tempDir(), 'not-a-dir')
    writeFileSync(file, 'x')
    const onFile = spawnCli(['--port', '0'], { DATA_DIR: file })
    expect((await onFile.exited).code).toBe(1)
    expect(onFile.stderr).toBe(`quire: data dir ${file} is not a directory\n`)

    // At warn level the only line a listening server prints is the auth warning.
    const upper = spawnCli([], { PORT: '0', HOST: '127.0.0.1', DATA_DIR: await tempDir(), LOG_LEVEL: 'WARN' })
    await expect.poll(() => upper.stdout, { timeout: 10_000 }).toContain('AUTHENTICATION IS OFF')
    expect(upper.stdout).not.toContain('Server listening')
    expect(upper.stderr).toBe('')
  })
})
