/**
 * Authentication of WebSocket connections. The token comes from the `token` query parameter
 * (y-websocket's `params` option) or from the Sec-WebSocket-Protocol header as an offered
 * subprotocol `quire-token.<JWT>` next to `quire` (the one the server selects: a token is never
 * echoed back in the handshake). A rejected client is accepted, sent y-protocols'
 * permission-denied message and closed with 4401 or 4403, so a browser can read why; the check
 * runs before the room is joined, so it never receives document content or awareness.
 */
import type { IncomingMessage } from 'node:http'
import { AuthError, type Authenticator } from './authenticator.js'
import { accessTo, type Principal } from './permissions.js'
import type { AuthMetrics } from './auth-metrics.js'
import type { Logger, Peer, ReadOnly } from '../room/peer.js'
import { encodePermissionDenied } from '../protocol/messages.js'
import { CLOSE_ERRORS, type CloseErrorCode } from '../protocol/close-codes.js'

export const TOKEN_SUBPROTOCOL_PREFIX = 'quire-token.'
/** Offered next to the token, it is the subprotocol the server selects, so the token is not echoed. */
export const QUIRE_SUBPROTOCOL = 'quire'

/**
 * ws `handleProtocols`: browsers fail a handshake whose offered subprotocols get no answer, so
 * one is selected — but never a token, which would be echoed in a response header that proxies
 * log. A client offering only `quire-token.…` gets no subprotocol (browsers then fail the
 * handshake): it must offer `quire` next to it, as docs/auth.md says.
 */
export function selectProtocol(protocols: Set<string>): string | false {
  if (protocols.has(QUIRE_SUBPROTOCOL)) return QUIRE_SUBPROTOCOL
  for (const protocol of protocols) if (!protocol.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) return protocol
  return false
}

export function tokenFromUpgrade(req: IncomingMessage): string | undefined {
  const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('token')
  if (query) return query
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
  const entry = offered.find((p) => p.startsWith(TOKEN_SUBPROTOCOL_PREFIX))
  return entry?.slice(TOKEN_SUBPROTOCOL_PREFIX.length) || undefined
}

export type Admission =
  | { ok: true; principal: Principal; readOnly: boolean }
  | { ok: false; code: CloseErrorCode; reason: string }

/** Verifies a token (the upgrade's, or one sent in-band) and the principal's access to `name`. Never rejects. */
export async function admit(auth: Authenticator, token: string | undefined, name: string): Promise<Admission> {
  try {
    const principal = await auth.verify(token)
    const access = accessTo(principal, name)
    if (access === 'none') return { ok: false, code: 'QUIRE_FORBIDDEN', reason: 'no access to this document' }
    return { ok: true, principal, readOnly: access === 'read' }
  } catch (error) {
    // Keys that cannot be fetched close with 1013: a retry may work, which y-websocket does.
    if (error instanceof AuthError && error.status === 503) return { ok: false, code: 'QUIRE_AUTH_UNAVAILABLE', reason: error.message }
    if (error instanceof AuthError) return { ok: false, code: 'QUIRE_UNAUTHORIZED', reason: error.message }
    return { ok: false, code: 'QUIRE_UNAUTHORIZED', reason: 'invalid token' }
  }
}

/** The flag Room.receive consults: drops writes (logged once, counted) and optionally awareness. */
export function readOnlyFlag(auth: Authenticator, metrics: AuthMetrics, log: () => Logger): ReadOnly {
  let logged = false
  return {
    dropAwareness: auth.readonlyAwareness === 'drop',
    dropped: () => {
      metrics.readonlyWriteDropped()
      if (logged) return
      logged = true
      log().info({}, 'read-only connection sent an update; dropped (logged once per connection)')
    },
  }
}

/** setTimeout's limit; a later expiry re-arms the timer. */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Closes `peer` with 4401 when the token expires. Returns the function that cancels it (call it
 * on close). The timer is unref'd: a connection waiting for expiry must not keep the process up.
 */
export function closeAtExpiry(principal: Principal, peer: Peer): () => void {
  if (principal.exp === undefined) return () => {}
  const expiresAt = principal.exp * 1000
  let timer: NodeJS.Timeout
  const expire = () => {
    peer.send(encodePermissionDenied('token expired'))
    peer.close('QUIRE_UNAUTHORIZED', 'token expired')
  }
  const arm = () => {
    const wait = expiresAt - Date.now()
    timer = setTimeout(wait > MAX_TIMER_MS ? arm : expire, Math.min(Math.max(wait, 0), MAX_TIMER_MS))
    timer.unref()
  }
  arm()
  return () => clearTimeout(timer)
}

export interface ConnectionAuth {
  authenticator: Authenticator
  metrics: AuthMetrics
}

/**
 * Admits or rejects one connection before it joins its room. On rejection sends the
 * permission-denied message and closes (4401/4403); on success marks a read-only peer and arms
 * the expiry timer. Resolves whether the connection may join.
 */
export async function authorizeConnection(
  { authenticator, metrics }: ConnectionAuth,
  req: IncomingMessage,
  name: string,
  peer: Peer,
  onClose: (listener: () => void) => void,
  log: () => Logger,
): Promise<boolean> {
  const admission = await admit(authenticator, tokenFromUpgrade(req), name)
  if (!admission.ok) {
    metrics.rejected(CLOSE_ERRORS[admission.code].close)
    peer.send(encodePermissionDenied(admission.reason))
    peer.close(admission.code, admission.reason)
    return false
  }
  onClose(grant({ authenticator, metrics }, admission, peer, log))
  return true
}

/**
 * What an admitted connection gets: the read-only flag if its access is read, its subject, and
 * the close at expiry. Returns the function that cancels the expiry (call it on close).
 */
export function grant({ authenticator, metrics }: ConnectionAuth, admission: Admission & { ok: true }, peer: Peer, log: () => Logger): () => void {
  peer.readOnly = admission.readOnly ? readOnlyFlag(authenticator, metrics, log) : undefined
  if (admission.principal.sub !== undefined) peer.subject = admission.principal.sub
  return closeAtExpiry(admission.principal, peer)
}
