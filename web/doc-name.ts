/**
 * Which document this page edits: `/d/<name>` or `/?doc=<name>`. A bare `/` gets a fresh
 * random name, written into the address bar so the link can be shared as is.
 */
export function documentName(base: string): string {
  const path = location.pathname
  const prefix = base + 'd/'
  if (path.startsWith(prefix) && path.length > prefix.length) {
    try {
      return decodeURIComponent(path.slice(prefix.length))
    } catch {
      return path.slice(prefix.length)
    }
  }
  const query = new URLSearchParams(location.search)
  const fromQuery = query.get('doc')
  if (fromQuery) return fromQuery
  const name = `note-${Math.random().toString(36).slice(2, 8)}`
  // The transport choice stays (a reload keeps it); a token does not linger in the address bar.
  const transport = query.get('transport')
  history.replaceState(null, '', `${base}?doc=${encodeURIComponent(name)}${transport ? `&transport=${encodeURIComponent(transport)}` : ''}`)
  return name
}

/**
 * The room name to give the WebsocketProvider, which appends it to the URL unchanged. Quire
 * decodes the path once, so encode everything but `/` (kept readable; it needs no encoding).
 */
export function roomPath(name: string): string {
  return encodeURIComponent(name).replace(/%2F/g, '/')
}

export function serverUrl(base: string): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  return `${scheme}://${location.host}${base.replace(/\/$/, '')}`
}

/** The server's HTTP base URL, for the SSE provider. */
export function httpUrl(base: string): string {
  return `${location.protocol}//${location.host}${base.replace(/\/$/, '')}`
}
