/**
 * JSON and text export of a document written by a real provider. The server never calls
 * getText/getMap/…, so its top-level types are untyped placeholders and the kinds are inferred.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { cleanup, connect, startServer, synced, waitFor, type TestServer } from './helpers.js'
import { base64url, docUrl, expectError, getJson } from './rest-helpers.js'

afterEach(cleanup)

/** A document as an editor app would write it: a Y.Text, a Y.Map, a Y.Array and a ProseMirror-like XmlFragment. */
function write(doc: Y.Doc): void {
  doc.getText('title').insert(0, 'Quarterly plan')
  const meta = doc.getMap<unknown>('meta')
  meta.set('owner', 'ada')
  meta.set('tags', ['q3', 'draft'])
  meta.set('reviewers', new Y.Array<string>())
  ;(meta.get('reviewers') as Y.Array<string>).push(['grace'])
  meta.set('summary', new Y.Text('short'))
  meta.set('gone', true)
  meta.delete('gone')
  doc.getArray<unknown>('items').push([1, 'two', { three: 3 }])
  const heading = new Y.XmlElement('heading')
  heading.setAttribute('level', 2 as unknown as string)
  heading.insert(0, [new Y.XmlText('Goals')])
  const paragraph = new Y.XmlElement('paragraph')
  const body = new Y.XmlText('Ship it soon')
  paragraph.insert(0, [body])
  const list = new Y.XmlElement('bullet_list')
  for (const [i, item] of ['one', 'two'].entries()) {
    const li = new Y.XmlElement('list_item')
    const p = new Y.XmlElement('paragraph')
    p.insert(0, [new Y.XmlText(item)])
    li.insert(0, [p])
    list.insert(i, [li]) // not push: a type not yet in a document has no length to read
  }
  doc.getXmlFragment('prosemirror').push([heading, paragraph, list])
  body.format(0, 4, { bold: {} }) // marks as y-prosemirror stores them: formatting attributes
  body.format(8, 4, { link: { href: 'https://example.com' } })
  doc.getText('emptied').insert(0, 'x')
  doc.getText('emptied').delete(0, 1)
}

const EXPECTED = {
  title: 'Quarterly plan',
  meta: { owner: 'ada', tags: ['q3', 'draft'], reviewers: ['grace'], summary: 'short' },
  items: [1, 'two', { three: 3 }],
  prosemirror: {
    type: 'doc',
    content: [
      { type: 'heading', attrs: { level: 2 }, content: [{ type: 'text', text: 'Goals' }] },
      {
        type: 'paragraph',
        content: [
          { type: 'text', text: 'Ship', marks: [{ type: 'bold' }] },
          { type: 'text', text: ' it ' },
          { type: 'text', text: 'soon', marks: [{ type: 'link', attrs: { href: 'https://example.com' } }] },
        ],
      },
      {
        type: 'bullet_list',
        content: ['one', 'two'].map((text) => ({
          type: 'list_item',
          content: [{ type: 'paragraph', content: [{ type: 'text', text }] }],
        })),
      },
    ],
  },
  // All of its content deleted: nothing tells what it was.
  emptied: null,
}

async function checkExports(server: TestServer, name: string): Promise<void> {
  expect(await getJson(docUrl(server, name, '/json'))).toEqual(EXPECTED)
  for (const [key, value] of Object.entries(EXPECTED)) {
    expect(await getJson(docUrl(server, name, `/json?key=${key}`)), key).toEqual(value)
  }
  const text = async (key: string) => {
    const response = await fetch(docUrl(server, name, `/text?key=${key}`))
    expect(response.status, key).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    return response.text()
  }
  expect(await text('title')).toBe('Quarterly plan')
  // Block elements on their own lines; text runs inside a paragraph joined.
  expect(await text('prosemirror')).toBe('Goals\nShip it soon\none\ntwo')
  expect(await text('emptied')).toBe('')
  await expectError(await fetch(docUrl(server, name, '/text?key=meta')), 400, /Y\.Map/)
  await expectError(await fetch(docUrl(server, name, '/text?key=items')), 400, /Y\.Array/)
  await expectError(await fetch(docUrl(server, name, '/text?key=nope')), 404, /nope/)
  await expectError(await fetch(docUrl(server, name, '/json?key=nope')), 404, /nope/)
  await expectError(await fetch(docUrl(server, name, '/text')), 400, /key/)
}

describe('JSON and text export', () => {
  it('infers Text, Map, Array and XmlFragment from a live room and from storage', async () => {
    const server = await startServer()
    const provider = connect(server.url, 'typed')
    await synced(provider)
    write(provider.doc)
    const sv = base64url(Y.encodeStateVector(provider.doc))
    await waitFor(async () => (await getJson<{ stateVector: string }>(docUrl(server, 'typed', '/state-vector'))).stateVector === sv, 'the server to hold the edits')

    await checkExports(server, 'typed')
    // Reading did not turn the room's placeholders into typed shared types (a wrong guess would break later access).
    const room = server.app.quire.registry.get('typed')!
    for (const type of room.doc.share.values()) expect(type.constructor).toBe(Y.AbstractType)

    provider.destroy()
    await waitFor(() => server.app.quire.registry.size === 0, 'the room to unload')
    await checkExports(server, 'typed')
  })
})
