/** docs/errors.md lists exactly the catalogue of src/protocol/close-codes.ts, with the right close codes. */
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { CLOSE_ERRORS } from '../src/protocol/close-codes.js'

describe('docs/errors.md', () => {
  it('has one row per error code, with its close code', async () => {
    const page = await readFile(new URL('../docs/errors.md', import.meta.url), 'utf8')
    const rows = new Map([...page.matchAll(/^\| `(QUIRE_[A-Z_]+)` \| (\d{4}) \|/gm)].map((m) => [m[1], Number(m[2])]))
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(Object.entries(CLOSE_ERRORS).map(([code, spec]) => [code, spec.close])))
  })
})
