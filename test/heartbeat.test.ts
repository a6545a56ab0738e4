import { connect as tcpConnect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'

afterEach(cleanup)

/** Completes a WebSocket handshake by hand and then never reads or answers anything: a dead peer. */
async function silentPeer(port: number, path: string): Promise<Socket> {
  const socket = tcpConnect(port, '127.0.0.1')
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  socket.write(
    `GET /${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  )
  await new Promise<void>((resolve) => socket.once('data', () => resolve())) // 101 Switching Protocols
  socket.pause()
  return socket
}

describe('heartbeat', () => {
  it('terminates a socket that stops answering pings and keeps live ones', async () => {
    const server = await startServer({ pingIntervalMs: 100 })
    const live = connect(server.url, 'pulse')
    await synced(live)
    const dead = await silentPeer(server.port, 'pulse')
    const room = () => server.app.quire.registry.get('pulse')
    await waitFor(() => room()?.peerCount === 2, 'both peers to join')
    const deadClosed = new Promise<void>((resolve) => dead.once('close', () => resolve()))
    dead.on('error', () => {})
    dead.resume() // read (and drop) what arrives, but never answer a ping
    await deadClosed
    await waitFor(() => room()?.peerCount === 1, 'the dead peer to be dropped')
    // The live provider answered every ping and is still served.
    live.doc.getText('t').insert(0, 'still here')
    const other = connect(server.url, 'pulse')
    await synced(other)
    await waitFor(() => other.doc.getText('t').toString() === 'still here', 'the live edit to be served')
    expect(live.wsconnected).toBe(true)
  })
})
