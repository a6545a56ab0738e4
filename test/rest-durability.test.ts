/**
 * REST writes answer only once they are on disk: SIGKILL right after the answer loses nothing.
 * Runs the real CLI (dist/cli.js, built by `npm test`'s pretest).
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { cleanup, tempDir } from './helpers.js'
import { killChildren, startChild, type ChildServer } from './child-server.js'
import { getJson, postJson, postUpdate } from './rest-helpers.js'

afterEach(async () => {
  await killChildren()
  await cleanup()
})

const api = (server: ChildServer, path: string) => `http://${server.host}:${server.port}/api/docs/${path}`
const text = (server: ChildServer, name: string) => fetch(api(server, `${name}/text?key=text`)).then((r) => r.text())

describe('REST durability (SIGKILL)', () => {
  it('keeps every acknowledged POST, version, restore and DELETE', async () => {
    const dataDir = await tempDir()
    const first = await startChild({ dataDir })
    const author = new Y.Doc()
    const typed = 'the quick brown fox jumps over the lazy dog'
    for (const [i, char] of [...typed].entries()) {
      const sv = Y.encodeStateVector(author)
      author.getText('text').insert(i, char)
      expect((await postUpdate(api(first, 'crash%2Fdoc/update'), Y.encodeStateAsUpdate(author, sv))).status).toBe(200)
    }
    expect((await postJson(api(first, 'crash%2Fdoc/versions'), { label: 'typed' })).status).toBe(201)
    expect((await postUpdate(api(first, 'gone/update'), Y.encodeStateAsUpdate(author))).status).toBe(200)
    expect((await fetch(api(first, 'gone'), { method: 'DELETE' })).status).toBe(204)
    await first.kill('SIGKILL')

    const second = await startChild({ dataDir })
    expect(await text(second, 'crash%2Fdoc')).toBe(typed)
    expect((await getJson<{ versions: unknown[] }>(api(second, 'crash%2Fdoc/versions'))).versions).toHaveLength(1)
    await getJson(api(second, 'gone'), 404)
    // Change it, restore the version, crash again.
    const sv = Y.encodeStateVector(author)
    author.getText('text').delete(0, 4)
    expect((await postUpdate(api(second, 'crash%2Fdoc/update'), Y.encodeStateAsUpdate(author, sv))).status).toBe(200)
    expect(await text(second, 'crash%2Fdoc')).toBe(typed.slice(4))
    expect((await postJson(api(second, 'crash%2Fdoc/versions/1/restore'), {})).status).toBe(200)
    await second.kill('SIGKILL')

    const third = await startChild({ dataDir })
    expect(await text(third, 'crash%2Fdoc')).toBe(typed)
  })
})
