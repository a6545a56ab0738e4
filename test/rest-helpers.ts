/** REST test helpers: fetch() against a real server started with startServer(). */
import { expect } from 'vitest'
import * as Y from 'yjs'
import type { TestServer } from './helpers.js'

/** `http://127.0.0.1:<port>/api/docs/<name>` plus `rest`, the name URL-encoded as one segment. */
export const docUrl = (server: TestServer, name: string, rest = '') =>
  `http://127.0.0.1:${server.port}/api/docs/${encodeURIComponent(name)}${rest}`

export const httpUrl = (server: TestServer, path: string) => `http://127.0.0.1:${server.port}${path}`

export const base64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url')

export async function getBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url)
  expect(response.status, url).toBe(200)
  expect(response.headers.get('content-type')).toBe('application/octet-stream')
  return new Uint8Array(await response.arrayBuffer())
}

export async function getJson<T = unknown>(url: string, status = 200): Promise<T> {
  const response = await fetch(url)
  expect(response.status, url).toBe(status)
  return (await response.json()) as T
}

export function postUpdate(url: string, update: Uint8Array, contentType = 'application/octet-stream'): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body: update })
}

export function postJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

/** Asserts the error contract: the status, and a JSON body `{statusCode, error, message}` agreeing with it. */
export async function expectError(response: Response, status: number, message?: RegExp): Promise<void> {
  const text = await response.text()
  expect(response.status, text).toBe(status)
  expect(response.headers.get('content-type')).toMatch(/^application\/json/)
  const body = JSON.parse(text) as { statusCode: number; error: string; message: string }
  expect(body).toMatchObject({ statusCode: status, error: expect.any(String), message: expect.any(String) })
  expect(body.message.length).toBeGreaterThan(0)
  if (message) expect(body.message).toMatch(message)
}

/** Content of a doc for comparisons: every listed type as JSON. */
export function contentOf(doc: Y.Doc): Record<string, unknown> {
  return {
    text: doc.getText('text').toString(),
    map: doc.getMap('map').toJSON(),
    array: doc.getArray('array').toJSON(),
    xml: doc.getXmlFragment('xml').toString(),
  }
}

/** A doc holding exactly `update`. */
export function docFrom(update: Uint8Array, v2 = false): Y.Doc {
  const doc = new Y.Doc()
  if (v2) Y.applyUpdateV2(doc, update)
  else Y.applyUpdate(doc, update)
  return doc
}

/** Writes to all four kinds of shared type the way an editor would. */
export function writeAllKinds(doc: Y.Doc, tag: string): void {
  doc.transact(() => {
    doc.getText('text').insert(doc.getText('text').length, `${tag} text. `)
    doc.getMap('map').set(tag, { n: tag.length })
    doc.getArray('array').push([tag])
    const paragraph = new Y.XmlElement('paragraph')
    paragraph.insert(0, [new Y.XmlText(`${tag} para`)])
    doc.getXmlFragment('xml').push([paragraph])
  })
}
