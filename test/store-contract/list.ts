// list: byte order, literal prefixes, paging, and what is never listed.
import { describe, expect, it } from 'vitest'
import { stateOf, update } from './fixtures.js'
import type { ContractContext } from './context.js'

/** Registers 'list'. */
export function listTests(context: ContractContext): void {
  const { open, names } = context
  describe('list', () => {
    it('orders names by their UTF-8 bytes, not by locale collation or UTF-16 code units', async () => {
      const store = await open()
      // Byte order, written out by hand: uppercase before lowercase, ' ' < '-' < '/' < letters,
      // 'z' < '~' < U+00E9 < U+00FF < CJK < U+FF5A < U+1F600. Locale collation would put 'a'
      // next to 'A' and ignore punctuation; UTF-16 order (JS sort) puts the emoji (a surrogate
      // pair, 0xD83D…) before U+FF5A, while its UTF-8 (F0…) sorts after U+FF5A's (EF…).
      const expected = ['A', 'B', 'E', 'Z', 'a', 'a b', 'a-b', 'a/b', 'ab', 'b', 'z', '~', '\u00e9', '\u00ff', '\u4e2d\u6587', '\uff5a', '\u{1f600}']
      const shuffled = ['\u00ff', 'b', 'a/b', '~', 'E', '\u{1f600}', 'a', 'z', 'a b', '\u4e2d\u6587', 'B', 'ab', '\uff5a', 'A', 'a-b', '\u00e9', 'Z']
      for (const [i, name] of shuffled.entries()) await store.append(name, update(i + 1))
      // The expectation itself, checked against a byte comparison so a typo above cannot pass.
      expect([...expected].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))).toEqual(expected)

      const listed = await store.list({ limit: 100 })
      expect(listed.map((d) => d.name)).toEqual(expected)
      // Each entry is the document's info, not something approximate.
      for (const entry of listed) expect(entry).toEqual(await store.info(entry.name))
    })

    it('prefix matches literally: no wildcards, no case folding, names equal to the prefix included', async () => {
      const store = await open()
      // '_' and '%' are LIKE wildcards and '\' its escape: a store building a LIKE pattern from
      // the prefix without escaping matches too much.
      const all = ['tea', 'team', 'team%', 'team%b', 'team/e', 'team/\u00e9', 'teamXa', 'team\\c', 'team_a', 'teamc', 'Team_a', 'teb']
      for (const [i, name] of all.entries()) await store.append(name, update(i + 1))
      expect(await names(store, { prefix: 'team' })).toEqual(['team', 'team%', 'team%b', 'team/e', 'team/\u00e9', 'teamXa', 'team\\c', 'team_a', 'teamc'])
      expect(await names(store, { prefix: 'team_' })).toEqual(['team_a'])
      expect(await names(store, { prefix: 'team%' })).toEqual(['team%', 'team%b'])
      expect(await names(store, { prefix: 'team\\' })).toEqual(['team\\c'])
      expect(await names(store, { prefix: 'team/' })).toEqual(['team/e', 'team/\u00e9'])
      expect(await names(store, { prefix: 'T' })).toEqual(['Team_a'])
      expect(await names(store, { prefix: 'zzz' })).toEqual([])
      expect(await names(store, { prefix: '' })).toEqual([...all].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))))
    })

    it('after and limit page through in order, without skipping or repeating', async () => {
      const store = await open()
      const all = ['a', 'b', 'c', 'p/1', 'p/10', 'p/2', 'p/\u00e9', 'p/\u{1f600}', 'pz', 'q', '\u00e9', '\u{1f600}']
      for (const [i, name] of [...all].reverse().entries()) await store.append(name, update(i + 1))
      expect(await names(store)).toEqual(all)

      const pages: string[][] = []
      let after: string | undefined
      for (;;) {
        const page = await names(store, { limit: 5, ...(after === undefined ? {} : { after }) })
        expect(page.length).toBeLessThanOrEqual(5)
        if (page.length === 0) break
        pages.push(page)
        after = page.at(-1)
      }
      expect(pages.map((p) => p.length)).toEqual([5, 5, 2])
      expect(pages.flat()).toEqual(all)

      const prefixed: string[] = []
      after = undefined
      for (;;) {
        const page = await names(store, { prefix: 'p/', limit: 2, ...(after === undefined ? {} : { after }) })
        if (page.length === 0) break
        prefixed.push(...page)
        after = page.at(-1)
      }
      expect(prefixed).toEqual(['p/1', 'p/10', 'p/2', 'p/\u00e9', 'p/\u{1f600}'])

      // `after` need not be a stored name, and comparisons are by bytes there too.
      expect(await names(store, { after: 'bb' })).toEqual(all.slice(2))
      expect(await names(store, { after: 'p/', prefix: 'p/', limit: 1 })).toEqual(['p/1'])
      expect(await names(store, { after: '~' })).toEqual(['\u00e9', '\u{1f600}'])
      expect(await names(store, { after: '\uffff' })).toEqual(['\u{1f600}'])
      expect(await names(store, { limit: 1 })).toEqual(['a'])
    })

    it('documents that were only read, compacted empty, versioned or deleted are not listed', async () => {
      const store = await open()
      await store.append('real', update(1))
      // A room that is joined and left without an edit loads the document and, on unload,
      // compacts its (empty) state at seq 0: neither may create the document.
      await store.load('read')
      await store.readSince('read', 0)
      await store.info('read')
      await store.compact('visited', { state: stateOf([]), seq: 0 })
      await store.compact('merged')
      expect(await store.versions.create('versioned', 'v1', stateOf([]))).toBeNull()
      store.release('released')
      expect(await store.delete('never')).toBe(false)
      await store.append('deleted', update(2))
      expect(await store.delete('deleted')).toBe(true)

      expect(await names(store)).toEqual(['real'])
      for (const name of ['read', 'visited', 'merged', 'versioned', 'released', 'never', 'deleted']) {
        expect(await store.info(name), name).toBeNull()
        expect((await store.load(name)).updates, name).toEqual([])
      }
    })
  })
}
