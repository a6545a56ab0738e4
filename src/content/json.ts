/**
 * Plain JSON and text views of a document's top-level shared types, for readers that do not
 * speak Yjs (indexers, agents, admin tools).
 *
 * Yjs updates do not record what kind a top-level type is. A document that never called
 * getText/getMap/… for a name — the server's never does — holds an AbstractType placeholder, so
 * the kind is inferred from the content. Everything here reads `_start`/`_map` directly instead of
 * calling `doc.get(name, Y.Text)`: that would turn the placeholder into a concrete type inside the
 * live document, and a wrong guess would make every later typed access throw.
 */
import * as Y from 'yjs'
import { InvalidInputError } from './errors.js'

export type SharedKind = 'text' | 'map' | 'array' | 'xml'
// `any` as Yjs itself uses: AbstractType<unknown> does not accept Y.Text, Y.Map… (event handler variance)
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyType = Y.AbstractType<any>

/** The kind of a shared type; null when nothing tells (never written, or all of it deleted). */
export function sharedKind(type: AnyType): SharedKind | null {
  if (type instanceof Y.XmlFragment) return 'xml' // XmlElement too
  if (type instanceof Y.Text) return 'text' // XmlText too
  if (type instanceof Y.Map) return 'map'
  if (type instanceof Y.Array) return 'array'
  let kind: SharedKind | null = null
  for (let item = type._start; item !== null; item = item.right) {
    const content = item.content
    // Only a Y.Text holds strings, formatting marks and embeds (an embed may be a Y type).
    if (content instanceof Y.ContentString || content instanceof Y.ContentFormat || content instanceof Y.ContentEmbed) return 'text'
    if (content instanceof Y.ContentType) kind ??= isXmlNode(content.type) ? 'xml' : 'array'
    else if (!(content instanceof Y.ContentDeleted)) kind = 'array' // any JSON value, binary, subdocument
  }
  return kind ?? (type._map.size > 0 ? 'map' : null)
}

/** Every top-level type as JSON; see `typeJson`. */
export function docJson(doc: Y.Doc): Record<string, unknown> {
  const json: Record<string, unknown> = {}
  for (const [key, type] of doc.share) json[key] = typeJson(type)
  return json
}

/**
 * Text → string, Map → object, Array → array, XmlFragment → ProseMirror-style JSON
 * (`{type: 'doc', content: [...]}`, as y-prosemirror's yXmlFragmentToProsemirrorJSON), unknown → null.
 */
export function typeJson(type: AnyType): unknown {
  switch (sharedKind(type)) {
    case 'text':
      return plainText(type)
    case 'map': {
      const json: Record<string, unknown> = {}
      for (const [key, item] of type._map) if (!item.deleted) json[key] = valueJson(item.content.getContent()[item.length - 1])
      return json
    }
    case 'array':
      return liveItems(type).flatMap((item) => (item.countable ? item.content.getContent().map(valueJson) : []))
    case 'xml':
      return { type: 'doc', content: children(type).flatMap(nodeJson) }
    default:
      return null
  }
}

/**
 * The text of a Y.Text, or of an XmlFragment: its text nodes in order, block elements (elements
 * whose children are all elements) separated by newlines. Maps and arrays have no text.
 */
export function typeText(key: string, type: AnyType): string {
  const kind = sharedKind(type)
  if (kind === 'map' || kind === 'array') {
    throw new InvalidInputError(`"${key}" is a Y.${kind === 'map' ? 'Map' : 'Array'}; only a Y.Text or Y.XmlFragment has text`)
  }
  return kind === 'xml' ? xmlText(type) : plainText(type)
}

/** JSON.stringify for exported values: Yjs may hold bigints, bytes and subdocuments, which JSON cannot. */
export function stringifyJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return v.toString()
    if (v instanceof Uint8Array) return Buffer.from(v).toString('base64')
    if (v instanceof Y.Doc) return { guid: v.guid }
    return v
  })
}

function liveItems(type: AnyType): Y.Item[] {
  const items: Y.Item[] = []
  for (let item = type._start; item !== null; item = item.right) if (!item.deleted) items.push(item)
  return items
}

function plainText(type: AnyType): string {
  let text = ''
  for (const item of liveItems(type)) if (item.content instanceof Y.ContentString) text += item.content.str
  return text
}

function children(type: AnyType): AnyType[] {
  return liveItems(type).flatMap((item) => (item.content instanceof Y.ContentType ? [item.content.type as AnyType] : []))
}

function valueJson(value: unknown): unknown {
  return value instanceof Y.AbstractType ? value.toJSON() : value
}

const isXmlNode = (type: unknown) => type instanceof Y.XmlElement || type instanceof Y.XmlText || type instanceof Y.XmlHook

/** y-prosemirror stores overlapping marks of one type as `name--<8 chars>`. */
const markName = (key: string) => key.replace(/--[a-zA-Z0-9+/=]{8}$/, '')

function nodeJson(node: AnyType): object[] {
  if (node instanceof Y.XmlText) {
    const delta = node.toDelta() as Array<{ insert: unknown; attributes?: Record<string, unknown> }>
    return delta.map(({ insert, attributes }) => {
      if (typeof insert !== 'string') return { type: 'embed', attrs: valueJson(insert) }
      const marks = Object.entries(attributes ?? {}).map(([key, attrs]) =>
        attrs !== null && typeof attrs === 'object' && Object.keys(attrs).length > 0 ? { type: markName(key), attrs } : { type: markName(key) },
      )
      return { type: 'text', text: insert, ...(marks.length > 0 && { marks }) }
    })
  }
  if (node instanceof Y.XmlElement) {
    const attrs = node.getAttributes()
    const content = children(node).flatMap(nodeJson)
    return [{ type: node.nodeName, ...(Object.keys(attrs).length > 0 && { attrs }), ...(content.length > 0 && { content }) }]
  }
  if (node instanceof Y.XmlHook) return [{ type: node.hookName, attrs: node.toJSON() }]
  return []
}

function xmlText(node: AnyType): string {
  if (node instanceof Y.XmlText) return plainText(node)
  const nodes = children(node)
  const blocks = nodes.length > 0 && nodes.every((child) => child instanceof Y.XmlElement)
  return nodes.map(xmlText).join(blocks ? '\n' : '')
}
