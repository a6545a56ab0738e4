import { describe, expect, it } from 'vitest'
import { RecentBases } from '../src/storage/recent-bases.js'

const bytes = (n: number) => new Uint8Array(n)

describe('RecentBases', () => {
  it('answers only for the seq the base covers', () => {
    const bases = new RecentBases(1000)
    const state = bytes(10)
    bases.set('a', 5, state)
    expect(bases.get('a', 5)).toBe(state)
    expect(bases.get('a', 6)).toBeUndefined()
    expect(bases.get('b', 5)).toBeUndefined()
    bases.delete('a')
    expect(bases.get('a', 5)).toBeUndefined()
  })

  it('keeps the newest within its byte budget and never lets one document take more than a quarter', () => {
    const bases = new RecentBases(1000)
    for (let i = 0; i < 5; i++) bases.set(`d${i}`, 1, bytes(240))
    // 5 × 240 > 1000: the oldest went first.
    expect(bases.get('d0', 1)).toBeUndefined()
    for (let i = 1; i < 5; i++) expect(bases.get(`d${i}`, 1)).toBeDefined()
    // Replacing an entry frees its old size and makes it the newest.
    bases.set('d1', 2, bytes(10))
    bases.set('d5', 1, bytes(240))
    expect(bases.get('d1', 2)).toBeDefined()
    expect(bases.get('d2', 1)).toBeDefined()
    // Too large to keep: not stored, and the older base of that name is gone too.
    bases.set('d3', 2, bytes(251))
    expect(bases.get('d3', 1)).toBeUndefined()
    expect(bases.get('d3', 2)).toBeUndefined()
  })
})
