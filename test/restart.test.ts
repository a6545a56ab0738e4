/**
 * Durability across a graceful stop: whatever the server had accepted before `close()` is served
 * by the next server on the same data directory, complete in the very first SyncStep2.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { WebsocketProvider } from 'y-websocket'
import { cleanup, connect, startServer, synced, waitFor } from './helpers.js'
import { atFirstSync } from './child-server.js'

afterEach(cleanup)

interface Content {
  text: string
  map: Record<string, unknown>
}

const contentOf = (doc: Y.Doc): Content => ({ text: doc.getText('t').toString(), map: doc.getMap('m').toJSON() })

/** What a server holding all of these documents' updates must serve. */
function merged(...docs: Y.Doc[]): Content {
  const all = new Y.Doc()
  for (const doc of docs) Y.applyUpdate(all, Y.encodeStateAsUpdate(doc))
  return contentOf(all)
}

/** Several separate transactions on text and map, including deletes and overwrites. */
function edit(doc: Y.Doc, tag: string): void {
  const text = doc.getText('t')
  const map = doc.getMap('m')
  text.insert(text.length, `${tag}:hello`)
  text.insert(text.length, ' world;')
  text.delete(text.length - 7, 1) // drop the space
  map.set(`${tag}-title`, 'draft')
  map.set(`${tag}-title`, 'final') // overwrite
  map.set(`${tag}-count`, 3)
  map.set(`${tag}-gone`, true)
  map.delete(`${tag}-gone`)
  map.set(`${tag}-list`, ['a', { b: 1 }])
}

/** Connects a fresh provider with an empty doc and returns the content it holds at its first sync. */
async function freshContent(url: string, room: string): Promise<Content> {
  const provider = connect(url, room)
  try {
    return await atFirstSync(provider, contentOf)
  } finally {
    provider.destroy() // it must not outlive this server and re-upload into the next one
  }
}

/** Resolves with the close code of the provider's current connection. */
function closeCode(provider: WebsocketProvider): Promise<number> {
  return new Promise((resolve) => {
    provider.once('connection-close', (event) => resolve((event as { code?: number } | null)?.code ?? -1))
  })
}

describe('graceful restart', () => {
  it('serves text and map edits after a restart when the editors had left', async () => {
    const first = await startServer()
    const editor = connect(first.url, 'doc')
    await synced(editor)
    edit(editor.doc, 'a')
    const expected = contentOf(editor.doc)
    // Wait until the server holds the edits, then leave: the room unloads (and compacts) on its own.
    await waitFor(() => first.app.quire.registry.get('doc')?.doc.getText('t').toString() === expected.text, 'the server to apply the edits')
    editor.destroy()
    await waitFor(() => first.app.quire.registry.size === 0, 'the room to unload')
    await first.close()

    const second = await startServer({ dataDir: first.dataDir })
    expect(await freshContent(second.url, 'doc')).toEqual(expected)
  })

  it('flushes edits of still-connected peers on close and closes them with 1001', async () => {
    const first = await startServer()
    const a = connect(first.url, 'shared')
    const b = connect(first.url, 'shared')
    await Promise.all([synced(a), synced(b)])
    const codes = Promise.all([closeCode(a), closeCode(b)])
    // Edit and close at once: none of this is confirmed yet, so only a flushing shutdown keeps it.
    edit(a.doc, 'a')
    edit(b.doc, 'b')
    const expected = merged(a.doc, b.doc)
    await first.close()
    expect(await codes).toEqual([1001, 1001])
    // No reconnect attempts may re-upload what the server failed to keep.
    a.destroy()
    b.destroy()

    const second = await startServer({ dataDir: first.dataDir })
    const seen = await freshContent(second.url, 'shared')
    expect(seen).toEqual(expected)
    expect(seen.text).toContain('a:helloworld;')
    expect(seen.text).toContain('b:helloworld;')
  })

  it('keeps every round of edits across repeated restarts with compaction in between', async () => {
    // Compacting after 4 updates folds most edits into the base while later ones stay in the log.
    let server = await startServer({ compactAfterUpdates: 4 })
    const dataDir = server.dataDir
    const writers: Y.Doc[] = []
    for (const round of ['r1', 'r2', 'r3']) {
      const writer = connect(server.url, 'rounds')
      await synced(writer)
      edit(writer.doc, round)
      writers.push(writer.doc)
      // Stop with the writer connected, then make sure it cannot reconnect anywhere.
      const closed = closeCode(writer)
      await server.close()
      expect(await closed).toBe(1001)
      writer.destroy()

      server = await startServer({ dataDir, compactAfterUpdates: 4 })
      const seen = await freshContent(server.url, 'rounds')
      expect(seen).toEqual(merged(...writers))
    }
  })
})
