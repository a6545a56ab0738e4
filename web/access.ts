/**
 * What this page may do with its document, asked of the server (`GET /api/docs/:name/access`)
 * rather than read out of the token: only the server knows whether authentication is on, which
 * keys and claims it accepts and how the token's patterns resolve, so the page cannot come to
 * another conclusion than the connection will.
 */
export type PageAccess =
  | { kind: 'write' }
  | { kind: 'read' }
  /** 401: token missing, invalid or expired; 403: no access to this document. */
  | { kind: 'refused'; status: 401 | 403; message: string }
  /** No answer (REST API off, rate limited, network): the server still enforces, so the page behaves as before. */
  | { kind: 'unknown' }

export async function fetchAccess(base: string, name: string, token: string | null): Promise<PageAccess> {
  try {
    const response = await fetch(`${base}api/docs/${encodeURIComponent(name)}/access`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      cache: 'no-store',
    })
    if (response.status === 401 || response.status === 403) {
      const body = (await response.json().catch(() => ({}))) as { message?: unknown }
      return { kind: 'refused', status: response.status, message: typeof body.message === 'string' ? body.message : '' }
    }
    if (!response.ok) return { kind: 'unknown' }
    const { access } = (await response.json()) as { access?: unknown }
    return access === 'read' || access === 'write' ? { kind: access } : { kind: 'unknown' }
  } catch {
    return { kind: 'unknown' }
  }
}

/** The words for a refusal, by HTTP status or WebSocket close code: expired or invalid token, or no access. */
export function refusalText(code: number, reason: string): { status: string; detail: string } {
  if (code === 401 || code === 4401) {
    const expired = /expired/i.test(reason)
    const missing = /missing/i.test(reason)
    return {
      status: expired ? 'Access refused: token expired' : missing ? 'Access refused: a token is needed' : 'Access refused: invalid token',
      detail: expired
        ? 'Your token has expired. Open the page again with a new one; nothing you type here can be saved.'
        : missing
          ? 'This server needs a token: open the page as ?token=<JWT>.'
          : `The server did not accept your token${reason ? ` (${reason})` : ''}. Open the page with a valid one.`,
    }
  }
  if (code === 403 || code === 4403) {
    return {
      status: 'Access refused: no access to this document',
      detail: 'Your token does not grant access to this document. Ask for access, or open a document it covers.',
    }
  }
  return { status: `Closed: ${reason || 'refused by the server'}`, detail: 'The server closed this document; edits made here cannot be saved.' }
}
