/**
 * The folders of src/ form layers: a folder may import from another only if that one never
 * imports back, directly or through others. A cycle means two folders cannot be understood (or
 * reused, e.g. by another transport) apart.
 */
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { describe, expect, it } from 'vitest'

const SRC = resolve(import.meta.dirname, '../src')

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))))
  return nested.flat().filter((f) => f.endsWith('.ts'))
}

/** A file's top folder under src/; files at the top (server.ts, logger.ts…) stand for themselves. */
const folderOf = (file: string) => relative(SRC, dirname(file)).split(sep)[0] || relative(SRC, file).replace(/\.(js|ts)$/, '')

/** Folder → folders it imports from (type-only imports count: they couple the folders too). */
async function folderGraph(): Promise<Map<string, Set<string>>> {
  const graph = new Map<string, Set<string>>()
  for (const file of await sourceFiles(SRC)) {
    const from = folderOf(file)
    const text = await readFile(file, 'utf8')
    for (const [, spec] of text.matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
      const to = folderOf(resolve(dirname(file), spec!))
      if (to === from) continue
      if (!graph.has(from)) graph.set(from, new Set())
      graph.get(from)!.add(to)
    }
  }
  return graph
}

function findCycle(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node]
    state.set(node, 'open')
    path.push(node)
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next)
      if (cycle) return cycle
    }
    path.pop()
    state.set(node, 'done')
    return null
  }
  for (const node of graph.keys()) {
    const cycle = visit(node)
    if (cycle) return cycle
  }
  return null
}

describe('src/ folder dependencies', () => {
  it('have no cycles', async () => {
    expect(findCycle(await folderGraph())).toBeNull()
  })

  it('the checker finds a cycle when there is one', () => {
    const graph = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])]])
    expect(findCycle(graph)).toEqual(['a', 'b', 'c', 'a'])
  })
})
