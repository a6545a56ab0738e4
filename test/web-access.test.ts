/**
 * GET /api/docs/:name/access: what the demo page (and any editor) asks before letting someone
 * type. The answer is the one the document's WebSocket connection gets, for documents that do
 * not exist yet as well.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, startServer } from './helpers.js'
import { SECRET, sign } from './auth-helpers.js'

afterEach(cleanup)

async function access(port: number, name: string, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}/api/docs/${encodeURIComponent(name)}/access`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

describe('GET /api/docs/:name/access', () => {
  it('answers write to everyone with authentication off', async () => {
    const server = await startServer()
    expect(await access(server.port, 'team/new doc')).toEqual({ status: 200, body: { name: 'team/new doc', access: 'write' } })
  })

  it("answers the token's access to the document, as its connection would get it", async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const token = await sign({ claims: { sub: 'ada', docs: { 'team/*': 'write', 'team/handbook': 'read' } } })
    const write = await access(server.port, 'team/spec', token)
    expect(write.status).toBe(200)
    expect(write.body).toMatchObject({ name: 'team/spec', access: 'write', subject: 'ada' })
    expect(Math.abs(Date.parse(write.body.expiresAt as string) - (Date.now() + 600_000))).toBeLessThan(5_000)
    expect((await access(server.port, 'team/handbook', token)).body).toMatchObject({ access: 'read' })
    expect((await access(server.port, 'elsewhere', await sign({ claims: { role: 'admin' } }))).body).toMatchObject({ access: 'write' })

    expect(await access(server.port, 'other/doc', token)).toMatchObject({ status: 403 })
    expect(await access(server.port, 'team/spec', await sign({ claims: { docs: { '*': 'write' } }, expiresIn: -60 }))).toMatchObject({ status: 401, body: { message: 'token expired' } })
    expect(await access(server.port, 'team/spec')).toMatchObject({ status: 401, body: { message: 'missing token' } })
    // Like the rest of the REST API: the header only, never a token in the URL.
    const inQuery = await fetch(`http://127.0.0.1:${server.port}/api/docs/team%2Fspec/access?token=${encodeURIComponent(token)}`)
    expect(inQuery.status).toBe(401)
    await inQuery.arrayBuffer()
  })
})
