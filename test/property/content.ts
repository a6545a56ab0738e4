/**
 * How the property compares replicas: content (text and map) as canonical JSON, state vectors,
 * and whether a served state contains every update recorded from the server (`missingFrom`).
 * Pure Yjs and no I/O, so that each check elsewhere states only what it compares, not how.
 */
import * as Y from 'yjs'

export interface Content {
  text: string
  map: Record<string, unknown>
}

export const contentOf = (doc: Y.Doc): Content => ({ text: doc.getText('t').toString(), map: doc.getMap('m').toJSON() })

/** JSON with sorted keys: map entries integrate in different orders on different replicas. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}

export function stateVector(doc: Y.Doc): Record<number, number> {
  return Object.fromEntries([...Y.decodeStateVector(Y.encodeStateVector(doc))].sort(([a], [b]) => a - b))
}

export function docFrom(update: Uint8Array): Y.Doc {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, update)
  return doc
}

/** The content of a state (a Yjs v1 update). */
export function contentOfState(state: Uint8Array): Content {
  const doc = docFrom(state)
  try {
    return contentOf(doc)
  } finally {
    doc.destroy()
  }
}

/**
 * Null if applying every update in `seen` to a doc holding `state` changes nothing (no update
 * event, nothing left pending), i.e. `state` contains all of them; else what is missing.
 */
export function missingFrom(state: Uint8Array, seen: readonly Uint8Array[]): string | null {
  const doc = docFrom(state)
  const before = { content: contentOf(doc), sv: stateVector(doc) }
  let changed = false
  doc.on('update', () => {
    changed = true
  })
  for (const update of seen) Y.applyUpdate(doc, update)
  const pending = doc.store.pendingStructs !== null || doc.store.pendingDs !== null
  const after = { content: contentOf(doc), sv: stateVector(doc) }
  doc.destroy()
  if (!changed && !pending) return null
  return (
    `the server's state lacks updates it had sent to clients (${seen.length} recorded${pending ? ', some depend on missing ones' : ''})\n` +
    `  served:              ${canonical(before)}\n` +
    `  served + every echo: ${canonical(after)}`
  )
}
