/**
 * Per-document permissions from a token's claims. The `docs` claim maps name patterns to `read`
 * or `write`: an exact name (`team-a/spec`), a prefix pattern ending in `*` (`team-a/*`), or `*`
 * alone. The most specific matching pattern decides: an exact name beats every prefix pattern,
 * a longer prefix beats a shorter one, and `*` (the empty prefix) comes last. A `*` anywhere but
 * at the end is an ordinary character.
 */
export type Access = 'none' | 'read' | 'write'

export interface Principal {
  /** The token's `sub`, for logs; undefined for anonymous access. */
  sub?: string
  /** Expiry in epoch seconds; undefined when the token has none (or auth is off). */
  exp?: number
  /** `role: "admin"`: everything, including DELETE and listing all documents. */
  admin: boolean
  docs: ReadonlyMap<string, 'read' | 'write'>
}

/** Auth off: anyone may read and write everything, as before authentication existed. */
export const ANONYMOUS: Principal = { admin: true, docs: new Map([['*', 'write']]) }

export function accessTo(principal: Principal, name: string): Access {
  if (principal.admin) return 'write'
  const exact = principal.docs.get(name)
  if (exact) return exact
  let best: { length: number; access: 'read' | 'write' } | undefined
  for (const [pattern, access] of principal.docs) {
    if (!pattern.endsWith('*')) continue
    const prefix = pattern.slice(0, -1)
    if (name.startsWith(prefix) && (!best || prefix.length > best.length)) best = { length: prefix.length, access }
  }
  return best?.access ?? 'none'
}

export class ClaimsError extends Error {
  override name = 'ClaimsError'
}

/** Builds a Principal from verified claims; throws ClaimsError when `docs` or `role` is malformed. */
export function principalFromClaims(claims: Record<string, unknown>): Principal {
  const docs = new Map<string, 'read' | 'write'>()
  const raw = claims.docs
  if (raw !== undefined) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ClaimsError('docs claim must be an object')
    for (const [pattern, access] of Object.entries(raw)) {
      if (access !== 'read' && access !== 'write') throw new ClaimsError(`docs claim: ${JSON.stringify(pattern)} must map to "read" or "write"`)
      docs.set(pattern, access)
    }
  }
  return {
    sub: typeof claims.sub === 'string' ? claims.sub : undefined,
    exp: typeof claims.exp === 'number' ? claims.exp : undefined,
    admin: claims.role === 'admin',
    docs,
  }
}
