/**
 * Content equality of two documents: what a user can observe (text with formatting and embeds,
 * map entries, array elements, XML structure and attributes, nested types), not how it is stored.
 * Restore uses it to leave a document alone that already equals the version.
 */
import * as Y from 'yjs'
import { sharedKind } from './json.js'

const constructors = { text: Y.Text, map: Y.Map, array: Y.Array, xml: Y.XmlFragment } as const

/** True if every top-level type has the same content in both. Both docs must be scratch copies: typed getters are called on them. */
export function sameContent(a: Y.Doc, b: Y.Doc): boolean {
  for (const key of new Set([...a.share.keys(), ...b.share.keys()])) {
    const kinds = [a.share.get(key), b.share.get(key)].map((type) => (type ? sharedKind(type) : null))
    const kind = kinds[0] ?? kinds[1]
    if (!kind) continue // nothing live on either side
    if (kinds[0] && kinds[1] && kinds[0] !== kinds[1]) return false
    const [left, right] = [a, b].map((doc) => JSON.stringify(canonical(doc.get(key, constructors[kind]))))
    if (left !== right) return false
  }
  return true
}

/** A JSON-able form that differs whenever observable content differs. Tags keep kinds apart. */
function canonical(value: unknown): unknown {
  if (value instanceof Y.XmlText) return ['xmltext', delta(value)]
  if (value instanceof Y.Text) return ['text', delta(value)]
  if (value instanceof Y.XmlElement) return ['element', value.nodeName, entries(value.getAttributes()), value.toArray().map(canonical)]
  if (value instanceof Y.XmlFragment) return ['fragment', value.toArray().map(canonical)]
  if (value instanceof Y.XmlHook) return ['hook', value.hookName, entries(Object.fromEntries(value.entries()))]
  if (value instanceof Y.Map) return ['map', entries(Object.fromEntries(value.entries()))]
  if (value instanceof Y.Array) return ['array', value.toArray().map(canonical)]
  if (value instanceof Y.Doc) return ['subdoc', value.guid]
  if (value instanceof Uint8Array) return ['bytes', Buffer.from(value).toString('base64')]
  if (typeof value === 'bigint') return ['bigint', value.toString()]
  if (value === undefined) return ['undefined']
  if (Array.isArray(value)) return ['list', value.map(canonical)]
  if (value !== null && typeof value === 'object') return ['object', entries(value as Record<string, unknown>)]
  return value
}

function delta(text: Y.Text): unknown {
  const ops = text.toDelta() as Array<{ insert: unknown; attributes?: Record<string, unknown> }>
  return ops.map((op) => [canonical(op.insert), entries(op.attributes ?? {})])
}

const entries = (record: Record<string, unknown>) =>
  Object.keys(record)
    .sort()
    .map((key) => [key, canonical(record[key])])
