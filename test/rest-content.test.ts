/**
 * The Yjs side of the REST API without HTTP: restore (against random edit histories), content
 * equality, update checks and strict state-vector parsing.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { parseStateVector, fromBase64url } from '../src/content/codec.js'
import { sameContent } from '../src/content/equal.js'
import { InvalidInputError } from '../src/content/errors.js'
import { restoreUpdate } from '../src/content/restore.js'
import { checkUpdate } from '../src/content/update.js'

/** Deterministic pseudo-random numbers, so a failure reproduces. */
function random(seed: number): (n: number) => number {
  let state = seed
  return (n) => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state % n
  }
}

/** One random edit of one of the four kinds, including deletes, overwrites and formatting. */
function randomEdit(doc: Y.Doc, next: (n: number) => number, step: number): void {
  const text = doc.getText('text')
  const map = doc.getMap<unknown>('map')
  const array = doc.getArray<unknown>('array')
  const xml = doc.getXmlFragment('xml')
  switch (next(7)) {
    case 0:
      text.insert(next(text.length + 1), `w${step} `)
      break
    case 1:
      if (text.length > 2) text.delete(next(text.length - 1), 1 + next(2))
      break
    case 2:
      if (text.length > 2) text.format(next(text.length - 1), 2, { bold: next(2) === 0 ? true : null })
      break
    case 3:
      if (next(3) === 0) map.delete(`k${next(4)}`)
      else map.set(`k${next(4)}`, next(2) === 0 ? step : new Y.Map([['v', step]]))
      break
    case 4:
      if (array.length > 0 && next(2) === 0) array.delete(next(array.length), 1)
      else array.insert(next(array.length + 1), [step, { nested: [step] }])
      break
    case 5: {
      const paragraph = new Y.XmlElement('p')
      paragraph.setAttribute('n', String(step))
      paragraph.insert(0, [new Y.XmlText(`para ${step}`)])
      xml.insert(next(xml.length + 1), [paragraph])
      break
    }
    default:
      if (xml.length > 0) xml.delete(next(xml.length), 1)
  }
}

describe('restoreUpdate', () => {
  it('makes a document equal any earlier version across random histories, and restores are idempotent', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const next = random(seed)
      const live = new Y.Doc() // gc on, like a room's document
      const other = new Y.Doc() // a second client editing concurrently
      const versions: Uint8Array[] = []
      for (let step = 0; step < 60; step++) {
        randomEdit(next(3) === 0 ? other : live, next, step)
        if (next(4) === 0) Y.applyUpdate(live, Y.encodeStateAsUpdate(other, Y.encodeStateVector(live)))
        if (next(8) === 0) versions.push(Y.encodeStateAsUpdate(live))
        if (versions.length > 0 && next(10) === 0) {
          const version = versions[next(versions.length)]!
          const update = restoreUpdate(live, version)
          if (update) Y.applyUpdate(live, update)
          expect(sameContent(copy(live), copy(version)), `seed ${seed} step ${step}`).toBe(true)
          expect(restoreUpdate(live, version), `seed ${seed} step ${step}: a second restore`).toBeNull()
        }
      }
    }
  })
})

describe('sameContent', () => {
  it('sees formatting, attributes, nesting and kinds, not history', () => {
    const a = new Y.Doc()
    a.getText('t').insert(0, 'hello')
    const b = copy(a)
    expect(sameContent(copy(a), copy(b))).toBe(true)
    b.getText('t').format(0, 1, { bold: true })
    expect(sameContent(copy(a), copy(b))).toBe(false)
    // Same content reached by a different history is equal.
    const c = new Y.Doc()
    c.getText('t').insert(0, 'hxllo')
    c.getText('t').delete(1, 1)
    c.getText('t').insert(1, 'e')
    expect(sameContent(copy(a), copy(c))).toBe(true)
    const map = new Y.Doc()
    map.getMap('m').set('k', new Y.Map([['v', 1]]))
    const plain = new Y.Doc()
    plain.getMap('m').set('k', { v: 1 })
    expect(sameContent(copy(map), copy(plain))).toBe(false)
  })
})

describe('checkUpdate', () => {
  it('refuses garbage, truncated updates and updates with missing dependencies, and leaves the document alone', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'base')
    const before = Y.encodeStateAsUpdate(doc)
    const author = copy(doc)
    author.getText('t').insert(4, ' one')
    const sv = Y.encodeStateVector(author)
    author.getText('t').insert(8, ' two')
    const second = Y.encodeStateAsUpdate(author, sv) // depends on " one", which doc lacks
    const full = Y.encodeStateAsUpdate(author, Y.encodeStateVector(doc))
    for (const bad of [new Uint8Array(), Uint8Array.from([1, 2, 3, 250]), full.subarray(0, full.length - 3), second]) {
      expect(() => checkUpdate(doc, bad)).toThrow(InvalidInputError)
    }
    expect(Y.encodeStateAsUpdate(doc)).toEqual(before)
    expect(() => checkUpdate(doc, full)).not.toThrow()
  })
})

describe('state vectors and base64url', () => {
  it('decodes exactly, refusing trailing bytes, truncation and non-base64url characters', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'x')
    const sv = Y.encodeStateVector(doc)
    expect(parseStateVector(fromBase64url(Buffer.from(sv).toString('base64url'), 'sv'))).toEqual(sv)
    expect(() => parseStateVector(Uint8Array.from([...sv, 0]))).toThrow(InvalidInputError)
    expect(() => parseStateVector(sv.subarray(0, sv.length - 1))).toThrow(InvalidInputError)
    expect(() => parseStateVector(new Uint8Array())).toThrow(InvalidInputError)
    for (const text of ['a+b/', 'ab c', 'A', '!!!!']) expect(() => fromBase64url(text, 'sv'), text).toThrow(InvalidInputError)
  })
})

function copy(doc: Y.Doc | Uint8Array): Y.Doc {
  const result = new Y.Doc()
  Y.applyUpdate(result, doc instanceof Y.Doc ? Y.encodeStateAsUpdate(doc) : doc)
  return result
}
