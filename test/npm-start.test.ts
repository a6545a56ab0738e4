/**
 * `npm start` stopped the way a process manager stops it (SIGTERM to npm): npm's shell does not
 * pass the signal on, so the server must notice and shut down itself, releasing port and data dir.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, tempDir, waitFor } from './helpers.js'

afterEach(cleanup)

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('npm start under a process manager', () => {
  it('shuts the server down cleanly when npm gets SIGTERM', async () => {
    const npm = spawn('npm', ['start'], {
      cwd: join(import.meta.dirname, '..'),
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: await tempDir(), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    npm.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    const npmExited = new Promise((resolve) => npm.on('close', resolve))
    await waitFor(() => out.includes('Quire is ready'), 'the server to listen', 20_000)
    const serverPid = Number(/"pid":(\d+)/.exec(out)![1])
    expect(serverPid).not.toBe(npm.pid)
    npm.kill('SIGTERM')
    await npmExited
    await waitFor(() => !alive(serverPid), 'the server process to exit', 10_000)
    expect(out).toContain('"msg":"shutting down"')
  })
})
