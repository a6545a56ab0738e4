/**
 * REST writes racing a DELETE of the same document: whichever wins, the loser gets a 4xx that
 * says what happened, never a 500. The 500 came from `POST …/update` (or restore) joining the
 * room just before a DELETE that waited for the same load closed it: `room.applyServerUpdate`
 * then rejected with a plain Error.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { cleanup, startServer, type TestServer } from '../helpers.js'
import { docUrl, postJson, postUpdate } from '../rest-helpers.js'

afterEach(cleanup)

function textUpdate(text: string): Uint8Array {
  const doc = new Y.Doc()
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}

const ROUNDS = 100

/**
 * `arm()`, then send an edit: when the registry holds the document for it, a DELETE of that
 * document is sent from inside the hold, so it reaches the server while the edit's room is still
 * loading, the interleaving that answered 500. Whether it lands before the load finishes or after
 * the edit varies from round to round; every outcome is checked.
 */
function deleteOnNextHold(server: TestServer): { arm(): Promise<{ removal: Promise<Response> }> } {
  const { registry } = server.app.quire
  let fire: ((sent: { removal: Promise<Response> }) => void) | undefined
  const hold = registry.hold.bind(registry)
  registry.hold = (name) => {
    if (fire) {
      fire({ removal: fetch(docUrl(server, name), { method: 'DELETE' }) })
      fire = undefined
    }
    return hold(name)
  }
  return { arm: () => new Promise((resolve) => (fire = resolve)) }
}

describe('REST writes racing DELETE', () => {
  it('POST update and DELETE fired together: 200/409 and 204/404, never 500', async () => {
    const server = await startServer()
    for (let round = 0; round < ROUNDS; round++) {
      const name = `race-${round % 5}`
      expect((await postUpdate(docUrl(server, name, '/update'), textUpdate('seed'))).status).toBe(200)
      const [update, removal] = await Promise.all([
        postUpdate(docUrl(server, name, '/update'), textUpdate(`round ${round}`)),
        fetch(docUrl(server, name), { method: 'DELETE' }),
      ])
      const body = await update.text()
      await removal.arrayBuffer()
      expect([200, 409], body).toContain(update.status)
      expect([204, 404]).toContain(removal.status)
    }
  })

  it('DELETE arriving while the POST update loads the document: 409, and the update is not applied', async () => {
    const server = await startServer()
    const race = deleteOnNextHold(server)
    let conflicts = 0
    for (let round = 0; round < ROUNDS; round++) {
      const name = `held-${round % 5}`
      expect((await postUpdate(docUrl(server, name, '/update'), textUpdate('seed'))).status).toBe(200)
      const fired = race.arm()
      const response = await postUpdate(docUrl(server, name, '/update'), textUpdate(`round ${round}`))
      const body = await response.text()
      const deleted = await (await fired).removal
      await deleted.arrayBuffer()
      expect([200, 409], body).toContain(response.status)
      expect([204, 404]).toContain(deleted.status)
      if (response.status === 409) {
        conflicts++
        expect(JSON.parse(body).message).toMatch(/was deleted while this edit was being applied; nothing was changed/)
        expect((await fetch(docUrl(server, name))).status).toBe(404) // refused means not applied: still deleted
      }
    }
    // The race this test is about happened (it answered 500 before the fix), not only the easy orders.
    expect(conflicts).toBeGreaterThan(0)
  })

  it('DELETE arriving while a restore loads the document: 200 or 409, never 500', async () => {
    const server = await startServer()
    const race = deleteOnNextHold(server)
    for (let round = 0; round < ROUNDS / 2; round++) {
      const name = `restore-race-${round % 3}`
      expect((await postUpdate(docUrl(server, name, '/update'), textUpdate('v1'))).status).toBe(200)
      const version = await postJson(docUrl(server, name, '/versions'), { label: 'v1' })
      expect(version.status).toBe(201)
      const { id } = (await version.json()) as { id: number }
      expect((await postUpdate(docUrl(server, name, '/update'), textUpdate('later'))).status).toBe(200)
      const fired = race.arm()
      const response = await postJson(docUrl(server, name, `/versions/${id}/restore`), {})
      const body = await response.text()
      const deleted = await (await fired).removal
      await deleted.arrayBuffer()
      expect([200, 409], body).toContain(response.status)
      expect([204, 404]).toContain(deleted.status)
    }
  })
})
