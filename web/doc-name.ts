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
  const fromQuery = new URLSearchParams(location.search).get('doc')
  if (fromQuery) return fromQuery
  const name = `note-${Math.random().toString(36).slice(2, 8)}`
  history.replaceState(null, '', `${base}?doc=${encodeURIComponent(name)}`)
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
