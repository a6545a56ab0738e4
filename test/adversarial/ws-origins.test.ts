/**
 * Item 9, WebSocket side: with auth off, a page on another site must not open a document in the
 * visitor's local Quire. Browsers always send Origin on a WebSocket handshake; Node clients don't.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, startServer, waitFor } from '../helpers.js'
import { closeClients, framesOf, sign } from '../auth-helpers.js'
import { SECRET } from '../auth-helpers.js'
import { metric } from '../metrics-helpers.js'

afterEach(async () => {
  closeClients()
  await cleanup()
})

const opened = (frames: Uint8Array[]) => frames.length > 0

describe('Origin allow-list for WebSocket upgrades', () => {
  it('auth off, default: refuses a cross-site page with 4403 before it reads anything; same-site, loopback and Node clients pass', async () => {
    const server = await startServer()
    const evil = framesOf(`${server.url}/doc`, undefined, { origin: 'https://evil.example' })
    expect(await evil.closed).toMatchObject({ code: 4403, reason: 'origin https://evil.example is not allowed' })
    expect(evil.frames).toEqual([])
    expect(server.app.quire.registry.get('doc')).toBeUndefined()
    expect(await metric(server, 'quire_connection_closes_total{code="4403"}')).toBe(1)

    for (const origin of [`http://127.0.0.1:${server.port}`, 'http://localhost:5173', undefined]) {
      const client = framesOf(`${server.url}/doc`, undefined, origin ? { origin } : {})
      await waitFor(() => opened(client.frames), `a SyncStep1 for origin ${origin}`)
    }
  })

  it('an explicit list admits exactly its origins', async () => {
    const server = await startServer({ allowedOrigins: ['https://app.example'] })
    const app = framesOf(`${server.url}/doc`, undefined, { origin: 'https://app.example' })
    await waitFor(() => opened(app.frames), 'the listed origin')
    const local = framesOf(`${server.url}/doc`, undefined, { origin: 'http://localhost:5173' })
    expect((await local.closed).code).toBe(4403)
  })

  it('auth on, default: any origin may connect, the token decides', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const token = await sign({ claims: { docs: { '*': 'read' } } })
    const client = framesOf(`${server.url}/doc?token=${token}`, undefined, { origin: 'https://elsewhere.example' })
    await waitFor(() => opened(client.frames), 'a SyncStep1')
  })
})
