/**
 * The admin routes with authentication on: `GET /api/backup`, `POST /api/restore` and
 * `POST /api/docs/:name/compact` answer 401 without a token and 403 to a token without the admin
 * role, whatever documents it may write; the commands say so in one line and exit 2; an admin
 * token (by --token or QUIRE_TOKEN) gets the work done.
 */
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import * as Y from 'yjs'
import { afterEach, describe, expect, it } from 'vitest'
import { BackupReader } from '../src/ops/backup-format.js'
import { cleanup, startServer, tempDir } from './helpers.js'
import { SECRET, sign } from './auth-helpers.js'
import { expectError } from './rest-helpers.js'
import { killCommands, quire } from './ops-helpers.js'

afterEach(async () => {
  killCommands()
  await cleanup()
})

async function seeded() {
  const server = await startServer({ auth: { secret: SECRET, required: true } })
  const url = `http://127.0.0.1:${server.port}`
  const admin = await sign({ claims: { role: 'admin' } })
  const writer = await sign({ claims: { docs: { '*': 'write' } } })
  const doc = new Y.Doc()
  doc.getText('t').insert(0, 'secret plans')
  const posted = await fetch(`${url}/api/docs/plans/update`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/octet-stream' },
    body: Y.encodeStateAsUpdate(doc),
  })
  expect(posted.status).toBe(200)
  return { server, url, admin, writer }
}

const bearer = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {})

describe('admin routes with authentication on', () => {
  it('401 without a token, 403 without the admin role, 200 for an admin', async () => {
    const { url, admin, writer } = await seeded()
    const backup = (token?: string) => fetch(`${url}/api/backup`, { headers: bearer(token) })
    await expectError(await backup(), 401, /missing token/)
    await expectError(await backup(writer), 403, /^backing up every document needs the admin role$/)
    const ok = await backup(admin)
    expect(ok.status).toBe(200)
    expect(ok.headers.get('content-type')).toBe('application/octet-stream')
    const docs = []
    for await (const doc of new BackupReader(ok.body!).documents()) docs.push(doc.name)
    expect(docs).toEqual(['plans'])

    const restore = (token?: string) =>
      fetch(`${url}/api/restore`, { method: 'POST', headers: { ...bearer(token), 'content-type': 'application/octet-stream' }, body: new Uint8Array(1) })
    await expectError(await restore(), 401)
    await expectError(await restore(writer), 403, /^restoring a backup needs the admin role$/)
    const compact = (token?: string) =>
      fetch(`${url}/api/docs/plans/compact`, { method: 'POST', headers: { ...bearer(token), 'content-type': 'application/json' }, body: '{}' })
    await expectError(await compact(), 401)
    await expectError(await compact(writer), 403, /^compacting documents needs the admin role$/)
    const compacted = await compact(admin)
    expect(compacted.status).toBe(200)
    expect(await compacted.json()).toMatchObject({ name: 'plans', after: { logUpdates: 0 } })
  })

  it('the commands refuse in one line (exit 2) without an admin token, and work with one', async () => {
    const { url, admin, writer } = await seeded()
    const file = join(await tempDir(), 'auth.backup')
    const none = await quire(['backup', file, '--server', url])
    expect(none.code).toBe(2)
    expect(none.stderr).toBe('quire: the server needs a token: pass --token or set QUIRE_TOKEN (missing token)\n')
    const notAdmin = await quire(['backup', file, '--server', url, '--token', writer])
    expect(notAdmin.code).toBe(2)
    expect(notAdmin.stderr).toBe('quire: the server refused: backing up every document needs the admin role\n')
    for (const args of [['compact', 'plans'], ['restore', file]]) {
      if (args[0] === 'restore') expect((await quire(['backup', file, '--server', url], { QUIRE_TOKEN: admin })).code).toBe(0)
      const run = await quire([...args, '--server', url, '--token', writer])
      expect(run.code, args[0]).toBe(2)
      expect(run.stderr).toMatch(/^quire: the server refused: .* needs the admin role\n$/)
    }
    // Reading one document needs read access only.
    const inspect = await quire(['inspect', 'plans', '--server', url], { QUIRE_TOKEN: writer })
    expect(inspect.code, inspect.stderr).toBe(0)

    const restored = await quire(['restore', file, '--server', url], { QUIRE_TOKEN: admin })
    expect(restored.code, restored.stderr).toBe(0)
    expect(restored.stdout).toMatch(/\(0 restored, 0 completed, 1 skipped, 0 conflicts\)/)
    expect((await readFile(file)).subarray(0, 40).toString()).toMatch(/^\{"format":"quire-backup","version":1/)
  })
})
