/**
 * Versions over REST: saved full states with labels, exported like documents, and restored as a
 * new edit that live providers receive.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { cleanup, connect, startServer, synced, waitFor, type TestServer } from './helpers.js'
import { base64url, docFrom, docUrl, expectError, getBytes, getJson, postJson } from './rest-helpers.js'

afterEach(cleanup)

interface Version {
  id: number
  label: string
  createdAt: string
  bytes: number
}

/** Everything the restore test touches, nested types included. */
function snapshot(doc: Y.Doc) {
  return {
    text: doc.getText('text').toDelta() as unknown,
    map: doc.getMap('map').toJSON(),
    array: doc.getArray('array').toJSON(),
    xml: doc.getXmlFragment('xml').toString(),
    extra: doc.getText('extra').toString(),
  }
}

async function saveVersion(server: TestServer, name: string, label: string): Promise<Version> {
  const response = await postJson(docUrl(server, name, '/versions'), { label })
  expect(response.status).toBe(201)
  return (await response.json()) as Version
}

async function serverHolds(server: TestServer, name: string, doc: Y.Doc): Promise<void> {
  const expected = base64url(Y.encodeStateVector(doc))
  await waitFor(async () => (await getJson<{ stateVector: string }>(docUrl(server, name, '/state-vector'))).stateVector === expected, 'the server to hold the edits')
}

describe('versions', () => {
  it('restores text, map, array and xml content on live providers as an edit they receive', async () => {
    const server = await startServer()
    const a = connect(server.url, 'versioned')
    const b = connect(server.url, 'versioned')
    await Promise.all([synced(a), synced(b)])
    const text = a.doc.getText('text')
    const map = a.doc.getMap<unknown>('map')
    const array = a.doc.getArray<string>('array')
    const xml = a.doc.getXmlFragment('xml')
    text.insert(0, 'The quick brown fox')
    text.format(4, 5, { bold: true })
    map.set('title', 'Draft')
    map.set('keep', 1)
    map.set('nested', new Y.Map([['x', 1]]))
    array.push(['a', 'b', 'c'])
    const paragraph = new Y.XmlElement('paragraph')
    paragraph.insert(0, [new Y.XmlText('hello')])
    xml.push([paragraph])
    await serverHolds(server, 'versioned', a.doc)
    const atVersion = snapshot(a.doc)
    const version = await saveVersion(server, 'versioned', 'first draft')
    expect(version).toMatchObject({ id: 1, label: 'first draft' })

    // Edits after the version, from both providers, of every kind: inserts, deletes, overwrites, a new type.
    text.delete(4, 6)
    text.insert(0, 'Not ')
    b.doc.getText('text').insert(0, '>> ')
    map.set('title', 'Final')
    map.delete('keep')
    map.set('added', true)
    ;(map.get('nested') as Y.Map<number>).set('x', 2)
    array.delete(0, 1)
    array.push(['d'])
    ;(paragraph.get(0) as Y.XmlText).insert(5, ' world')
    xml.push([new Y.XmlElement('heading')])
    a.doc.getText('extra').insert(0, 'a type the version does not have')
    await waitFor(() => JSON.stringify(snapshot(a.doc)) === JSON.stringify(snapshot(b.doc)) && snapshot(a.doc).extra !== '', 'the providers to converge')
    await serverHolds(server, 'versioned', a.doc)
    expect(snapshot(a.doc)).not.toEqual(atVersion)

    const restored = await postJson(docUrl(server, 'versioned', `/versions/${version.id}/restore`), {})
    expect(restored.status).toBe(200)
    for (const provider of [a, b]) {
      await waitFor(() => JSON.stringify(snapshot(provider.doc)) === JSON.stringify(atVersion), 'the provider to hold the version again')
    }
    expect(snapshot(b.doc)).toEqual(atVersion)
    // The JSON exports agree; "extra" is emptied, and a type with nothing left to infer its kind from is null.
    const versionJson = await getJson<Record<string, unknown>>(docUrl(server, 'versioned', '/versions/1/json'))
    expect(await getJson(docUrl(server, 'versioned', '/json'))).toEqual({ ...versionJson, extra: null })

    // A restore is an ordinary edit: later edits merge on top, and restoring again with nothing changed is a no-op.
    const { stateVector } = await getJson<{ stateVector: string }>(docUrl(server, 'versioned', '/state-vector'))
    const again = await postJson(docUrl(server, 'versioned', '/versions/1/restore'), {})
    expect(((await again.json()) as { stateVector: string }).stateVector).toBe(stateVector)
    b.doc.getText('text').insert(0, 'After. ')
    await waitFor(() => a.doc.getText('text').toString() === 'After. The quick brown fox', 'an edit after the restore')

    // And it is stored: a fresh client after a restart gets the restored content.
    a.destroy()
    b.destroy()
    await server.close()
    const restarted = await startServer({ dataDir: server.dataDir })
    const reader = connect(restarted.url, 'versioned')
    await synced(reader)
    expect(snapshot(reader.doc)).toEqual({ ...atVersion, text: [{ insert: 'After. The ' }, ...(atVersion.text as object[]).slice(1)] })
  })

  it('keeps each version as it was, exports it like a document, and lists versions in order', async () => {
    const server = await startServer()
    const provider = connect(server.url, 'history')
    await synced(provider)
    const text = provider.doc.getText('text')
    text.insert(0, 'one')
    await serverHolds(server, 'history', provider.doc)
    const first = await saveVersion(server, 'history', 'one')
    const firstState = Y.encodeStateAsUpdate(provider.doc)
    text.insert(3, ' two')
    await serverHolds(server, 'history', provider.doc)
    const second = await saveVersion(server, 'history', 'two')
    text.delete(0, text.length)
    text.insert(0, 'gone')
    await serverHolds(server, 'history', provider.doc)

    expect([first.id, second.id]).toEqual([1, 2])
    const { versions } = await getJson<{ versions: Version[] }>(docUrl(server, 'history', '/versions'))
    expect(versions.map((v) => [v.id, v.label])).toEqual([[1, 'one'], [2, 'two']])
    expect(versions[0]!.bytes).toBe(first.bytes)
    expect(await getJson(docUrl(server, 'history', '/versions/2'))).toEqual(second)

    expect(await fetch(docUrl(server, 'history', '/versions/1/text?key=text')).then((r) => r.text())).toBe('one')
    expect(await getJson(docUrl(server, 'history', '/versions/2/json'))).toEqual({ text: 'one two' })
    expect(docFrom(await getBytes(docUrl(server, 'history', '/versions/1/update'))).getText('text').toString()).toBe('one')
    expect(docFrom(await getBytes(docUrl(server, 'history', '/versions/2/update?encoding=v2')), true).getText('text').toString()).toBe('one two')
    // Diff between versions: what version 2 adds to a holder of version 1.
    const holder = docFrom(firstState)
    Y.applyUpdate(holder, await getBytes(docUrl(server, 'history', `/versions/2/update?sv=${base64url(Y.encodeStateVector(holder))}`)))
    expect(holder.getText('text').toString()).toBe('one two')
    expect(await fetch(docUrl(server, 'history', '/text?key=text')).then((r) => r.text())).toBe('gone')
  })

  it('refuses versions of unknown documents and of documents with nothing stored', async () => {
    const server = await startServer()
    await expectError(await postJson(docUrl(server, 'nobody', '/versions'), { label: 'x' }), 404)
    await expectError(await fetch(docUrl(server, 'nobody', '/versions')), 404)
    const opened = connect(server.url, 'opened')
    await synced(opened)
    await expectError(await postJson(docUrl(server, 'opened', '/versions'), { label: 'x' }), 404, /nothing stored/)
    expect(await getJson(docUrl(server, 'opened', '/versions'))).toEqual({ versions: [] })
  })
})
