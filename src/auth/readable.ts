/** The document list as one principal sees it: only documents it may read. */
import type { DocInfo, DocStore } from '../storage/doc-store.js'
import { accessTo, type Principal } from './permissions.js'

/**
 * A page of stored documents the principal may read: pages through the store until `limit`
 * readable ones are found, so hidden documents never shorten a page or leak through its size.
 */
export async function listReadable(
  store: DocStore,
  principal: Principal,
  query: { prefix: string; after?: string; limit: number },
): Promise<DocInfo[]> {
  if (principal.admin) return store.list(query)
  const found: DocInfo[] = []
  let after = query.after
  for (;;) {
    const page = await store.list({ prefix: query.prefix, after, limit: Math.max(query.limit, 100) })
    for (const info of page) if (accessTo(principal, info.name) !== 'none' && found.push(info) === query.limit) return found
    if (page.length === 0) return found
    after = page.at(-1)!.name
    if (page.length < Math.max(query.limit, 100)) return found
  }
}
