import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'

afterEach(cleanup)

async function dirBytes(dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir)) total += (await stat(join(dir, entry))).size
  return total
}

describe('compaction', () => {
  it('folds the log into the state past the threshold: content identical, size bounded', async () => {
    const server = await startServer({ compactAfterUpdates: 50 })
    const writer = connect(server.url, 'busy')
    await synced(writer)
    const map = writer.doc.getMap<string>('m')
    const list = writer.doc.getArray<number>('a')
    const blob = 'z'.repeat(2_000)
    const room = () => server.app.quire.registry.get('busy')
    const store = server.app.quire.store
    // Each edit is its own update: the map value is overwritten (2 KB each time), the list grows.
    // Six bursts, so compactions run while later updates keep arriving.
    for (let burst = 0; burst < 6; burst++) {
      for (let i = burst * 100; i < (burst + 1) * 100; i++) {
        writer.doc.transact(() => {
          map.set('value', `${i}:${blob}`)
          list.push([i])
        })
      }
      const n = (burst + 1) * 100
      await waitFor(async () => (await store.info('busy'))?.seq === n, `${n} updates stored`)
      // 100 × 2 KB went in; compaction brings the log back under its threshold of 50.
      await waitFor(async () => (await store.info('busy'))!.logUpdates < 50, `log compacted after ${n} updates`)
      expect((await store.info('busy'))!.bytes).toBeLessThan(120_000)
    }
    expect(room()?.doc.getArray('a').length).toBe(600)

    writer.destroy()
    await waitFor(() => server.app.quire.registry.size === 0, 'the room to unload')
    expect((await store.info('busy'))!.logUpdates).toBe(0) // compacted on unload too
    await server.close()
    // 1.2 MB went in. LevelDB keeps superseded values until it compacts their files, which the
    // store asks for when a document with enough superseded bytes unloads.
    expect(await dirBytes(server.dataDir)).toBeLessThan(400_000)

    const restarted = await startServer({ dataDir: server.dataDir })
    const reader = connect(restarted.url, 'busy')
    await synced(reader)
    expect(reader.doc.getArray<number>('a').toArray()).toEqual(Array.from({ length: 600 }, (_, i) => i))
    expect(reader.doc.getMap<string>('m').get('value')).toBe(`599:${blob}`)
    const loaded = await restarted.app.quire.store.load('busy')
    expect(loaded.updates).toHaveLength(1) // only the compacted state is left
    const fresh = new Y.Doc()
    Y.applyUpdate(fresh, loaded.updates[0]!)
    expect(Y.encodeStateAsUpdate(fresh)).toEqual(Y.encodeStateAsUpdate(reader.doc))
  })
})
