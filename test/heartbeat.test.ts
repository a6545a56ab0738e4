import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, connect, pausedSocket, startServer, synced, waitFor } from './helpers.js'

afterEach(cleanup)

describe('heartbeat', () => {
  it('terminates a socket that stops answering pings and keeps live ones', async () => {
    const server = await startServer({ pingIntervalMs: 100 })
    const live = connect(server.url, 'pulse')
    await synced(live)
    const dead = await pausedSocket(server.port, 'pulse')
    const room = () => server.app.quire.registry.get('pulse')
    await waitFor(() => room()?.peerCount === 2, 'both peers to join')
    const deadClosed = new Promise<void>((resolve) => dead.once('close', () => resolve()))
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
