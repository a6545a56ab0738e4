/**
 * Item 1: an upgrade Quire refuses is answered on a raw socket. If the peer resets the connection
 * first, that write fails; without an 'error' listener the process would die. Run against the
 * real CLI in a child process, so a crash is a crash and not a failed assertion in this one.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { connect as tcpConnect } from 'node:net'
import { cleanup, tempDir, waitFor } from '../helpers.js'
import { killChildren, startChild } from '../child-server.js'

afterEach(async () => {
  await killChildren()
  await cleanup()
})

/** Sends an upgrade request and resets the connection at once (RST, not FIN). */
function upgradeThenReset(port: number, requestLine: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1')
    socket.on('error', () => {})
    socket.on('close', () => resolve())
    socket.once('connect', () => {
      socket.write(
        `${requestLine}\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      )
      socket.resetAndDestroy()
    })
  })
}

describe('refused upgrades from peers that reset the connection', () => {
  it('leave the server running and answering', async () => {
    const server = await startChild({ dataDir: await tempDir() })
    const health = `http://127.0.0.1:${server.port}/healthz`
    for (let round = 0; round < 100; round++) {
      await Promise.all([
        upgradeThenReset(server.port, 'GET http://x/ HTTP/1.1'), // absolute form: outside the base path
        upgradeThenReset(server.port, 'GET http://127.0.0.1/doc HTTP/1.1'),
        upgradeThenReset(server.port, 'GET /doc HTTP/1.1'),
      ])
    }
    await waitFor(async () => (await fetch(health)).ok, 'healthz after the resets', 5000)
    expect(server.child.exitCode).toBeNull()
    expect(server.stderr).not.toMatch(/Unhandled 'error' event|ECONNRESET|EPIPE/)
  })
})
