/**
 * WebSocket authentication: tokens from `?token=` and from the Sec-WebSocket-Protocol header,
 * rejected clients (4401/4403) that receive nothing but the permission-denied message, read-only
 * connections whose edits go nowhere, and closing at token expiry.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import WebSocket from 'ws'
import { cleanup, connect, startServer, synced, waitFor, withTimeout, type TestServer } from './helpers.js'
import { metric } from './metrics-helpers.js'
import { SECRET, closeClients, denied, framesOf, providerWith, sign } from './auth-helpers.js'

afterEach(async () => {
  closeClients()
  await cleanup()
})

const authServer = (extra: { audience?: string; issuer?: string; readonlyAwareness?: 'drop' | 'relay' } = {}) =>
  startServer({ auth: { secret: SECRET, ...extra } })

/** Seeds `name` with text through an admin token, so there is content a rejected client must not see. */
async function seed(server: TestServer, name: string, text: string) {
  const writer = providerWith(server.url, name, await sign({ claims: { role: 'admin', aud: 'quire' } }))
  await synced(writer)
  writer.doc.getText('t').insert(0, text)
  writer.awareness.setLocalStateField('user', { name: 'seeder' })
  await waitFor(async () => (await server.app.quire.store.info(name))?.seq === 1, 'seed stored')
  return writer
}

describe('WebSocket tokens', () => {
  it('accepts a valid token from ?token= (y-websocket params): syncs and edits', async () => {
    const server = await authServer()
    const token = await sign({ claims: { docs: { 'team-a/*': 'write' } } })
    const a = providerWith(server.url, 'team-a/spec', token)
    const b = providerWith(server.url, 'team-a/spec', token)
    await Promise.all([synced(a), synced(b)])
    a.doc.getText('t').insert(0, 'hello')
    await waitFor(() => b.doc.getText('t').toString() === 'hello', 'edit relayed')
  })

  it('accepts a token offered as a subprotocol next to "quire", and never echoes a token back', async () => {
    const server = await authServer()
    const token = await sign({ claims: { docs: { '*': 'read' } } })
    const withQuire = framesOf(`${server.url}/doc`, ['quire', `quire-token.${token}`])
    await withQuire.opened
    expect(withQuire.ws.protocol).toBe('quire')
    await waitFor(() => withQuire.frames.length > 0, 'SyncStep1 from the server')
    expect([...withQuire.frames[0]!.subarray(0, 2)]).toEqual([0, 0])

    // Offered alone, the token would be the only possible answer: the server selects none, so the
    // token never appears in a response header (and the client fails the handshake, as browsers do).
    const alone = new WebSocket(`${server.url}/doc`, [`quire-token.${token}`])
    const headers = new Promise<Record<string, unknown>>((resolve) => alone.once('upgrade', (res) => resolve(res.headers)))
    const failed = new Promise<Error>((resolve) => alone.once('error', resolve))
    expect((await headers)['sec-websocket-protocol']).toBeUndefined()
    expect((await failed).message).toMatch(/no subprotocol/)
  })

  const bad: Array<{ what: string; token: () => Promise<string | undefined>; reason: RegExp }> = [
    { what: 'no token', token: async () => undefined, reason: /^missing token$/ },
    { what: 'a garbage token', token: async () => 'not.a.jwt', reason: /^invalid token/ },
    { what: 'a token signed with another secret', token: () => sign({ key: new TextEncoder().encode('x'.repeat(40)) }), reason: /bad signature/ },
    { what: 'an expired token', token: () => sign({ expiresIn: -10, claims: { aud: 'quire' } }), reason: /^token expired$/ },
    { what: 'a malformed docs claim', token: () => sign({ claims: { aud: 'quire', docs: { '*': 'admin' } } }), reason: /docs claim/ },
    { what: 'a wrong-audience token', token: () => sign({ claims: { aud: 'someone-else' } }), reason: /aud/ },
  ]
  for (const source of ['query', 'subprotocol'] as const) {
    it.each(bad)(`rejects $what (${source}) with 4401 after only the permission-denied message`, async ({ token, reason }) => {
      const server = await authServer({ audience: 'quire' })
      await seed(server, 'secret-doc', 'classified')
      const loads = server.app.quire.registry.loads
      const value = await token()
      const client = source === 'query'
        ? framesOf(`${server.url}/secret-doc${value ? `?token=${value}` : ''}`)
        : framesOf(`${server.url}/secret-doc`, value ? ['quire', `quire-token.${value}`] : undefined)
      const closed = await withTimeout(client.closed, 5000, 'the close')
      expect(closed.code).toBe(4401)
      expect(closed.reason).toMatch(reason)
      expect(client.frames).toHaveLength(1)
      expect(Buffer.from(client.frames[0]!)).toEqual(denied(closed.reason))
      expect(server.app.quire.registry.loads).toBe(loads)
      expect(await metric(server, 'quire_auth_rejections_total{code="4401"}')).toBeGreaterThanOrEqual(1)
    })
  }
})

describe('permissions', () => {
  it('closes a client without access to the document with 4403 before sending one byte of content', async () => {
    const server = await authServer()
    await seed(server, 'team-b/plan', 'team b only') // loaded, with content and an awareness state
    const token = await sign({ claims: { docs: { 'team-a/*': 'write', 'team-b/other': 'read' } } })
    const client = framesOf(`${server.url}/team-b/plan?token=${token}`)
    const closed = await withTimeout(client.closed, 5000, 'the close')
    expect(closed).toMatchObject({ code: 4403, reason: 'no access to this document' })
    expect(client.frames.map((f) => Buffer.from(f))).toEqual([denied('no access to this document')])
    expect(server.app.quire.registry.connections('team-b/plan')).toBe(1) // only the seeder
  })

  it('a cold document is not even loaded for a forbidden client', async () => {
    const server = await authServer()
    const token = await sign({ claims: { docs: { 'team-a/*': 'write' } } })
    const client = framesOf(`${server.url}/team-b/cold?token=${token}`)
    expect((await withTimeout(client.closed, 5000, 'the close')).code).toBe(4403)
    expect(server.app.quire.registry.loads).toBe(0)
  })

  it("drops a read-only provider's edits: not relayed, not stored, not exported; it still syncs and relays awareness", async () => {
    const server = await authServer()
    const writer = await seed(server, 'team-a/spec', 'original')
    const reader = providerWith(server.url, 'team-a/spec', await sign({ claims: { docs: { 'team-a/*': 'read', 'team-a/spec-draft': 'write' } } }))
    await synced(reader)
    expect(reader.doc.getText('t').toString()).toBe('original') // SyncStep1 answered
    reader.doc.getText('t').insert(0, 'VANDAL ')
    reader.awareness.setLocalStateField('user', { name: 'reader' })
    await waitFor(async () => (await metric(server, 'quire_readonly_writes_dropped_total')) >= 1, 'the dropped update counted')
    // Ordering point: a later edit by the writer reaches the reader, so anything the reader sent earlier was handled.
    writer.doc.getText('t').insert(8, '!')
    await waitFor(() => reader.doc.getText('t').toString().endsWith('original!'), 'writer edit at the reader')
    await waitFor(() => [...writer.awareness.getStates().values()].some((s) => s.user?.name === 'reader'), 'reader awareness relayed')
    expect(writer.doc.getText('t').toString()).toBe('original!')
    const stored = await server.app.quire.store.info('team-a/spec')
    expect(stored?.seq).toBe(2)
    const admin = await sign({ claims: { role: 'admin' } })
    const text = await fetch(`http://127.0.0.1:${server.port}/api/docs/team-a%2Fspec/text?key=t`, { headers: { authorization: `Bearer ${admin}` } })
    expect(await text.text()).toBe('original!')
  })

  it('--readonly-awareness drop: a read-only client\'s cursor never reaches the others', async () => {
    const server = await authServer({ readonlyAwareness: 'drop' })
    const writer = await seed(server, 'd', 'x')
    const reader = providerWith(server.url, 'd', await sign({ claims: { docs: { d: 'read' } } }))
    await synced(reader)
    reader.awareness.setLocalStateField('user', { name: 'reader' })
    writer.awareness.setLocalStateField('user', { name: 'seeder-2' }) // ordering point: after the reader's awareness
    await waitFor(() => [...reader.awareness.getStates().values()].some((s) => s.user?.name === 'seeder-2'), 'writer awareness at the reader')
    expect([...writer.awareness.getStates().values()].some((s) => s.user?.name === 'reader')).toBe(false)
  })

  it('most specific pattern wins: exact over prefix, longer prefix over shorter, * last', async () => {
    const server = await authServer()
    const token = await sign({ claims: { docs: { '*': 'write', 'a/*': 'read', 'a/b/*': 'write', 'a/b/c': 'read' } } })
    const tryWrite = async (name: string) => {
      const p = providerWith(server.url, name, token)
      await synced(p)
      p.doc.getText('t').insert(0, 'w')
      await waitFor(async () => (await metric(server, 'quire_readonly_writes_dropped_total')) + ((await server.app.quire.store.info(name))?.seq ?? 0) > dropsBefore, `${name} handled`)
    }
    let dropsBefore = 0
    const expectations: Array<[string, boolean]> = [['x', true], ['a/x', false], ['a/b/x', true], ['a/b/c', false]]
    for (const [name, writable] of expectations) {
      dropsBefore = await metric(server, 'quire_readonly_writes_dropped_total')
      await tryWrite(name)
      expect(((await server.app.quire.store.info(name))?.seq ?? 0) > 0, name).toBe(writable)
    }
  })
})

describe('expiry', () => {
  it('closes with 4401 when the token expires, not before', async () => {
    const server = await authServer()
    const token = await sign({ expiresIn: 2, claims: { docs: { '*': 'write' } } })
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp as number
    const client = framesOf(`${server.url}/expiring?token=${token}`)
    await client.opened
    await waitFor(() => client.frames.length > 0, 'SyncStep1')
    const closed = await withTimeout(client.closed, 5000, 'the close at expiry')
    expect(closed.code).toBe(4401)
    expect(closed.reason).toBe('token expired')
    expect(closed.at).toBeGreaterThanOrEqual(exp * 1000)
    expect(closed.at).toBeLessThan(exp * 1000 + 1500) // the timer fires at exp; slack for a loaded CI machine
    expect(Buffer.from(client.frames.at(-1)!)).toEqual(denied('token expired'))
  })

  it('auth off: anonymous read-write as before (no token needed)', async () => {
    const server = await startServer()
    const a = connect(server.url, 'open')
    const b = connect(server.url, 'open', new Y.Doc())
    await Promise.all([synced(a), synced(b)])
    a.doc.getText('t').insert(0, 'hi')
    await waitFor(() => b.doc.getText('t').toString() === 'hi', 'relay')
  })
})
