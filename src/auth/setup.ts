/**
 * Builds the authentication pieces from QuireOptions.auth: the verifier, its metrics and the
 * WebSocket side. The HTTP hooks built from them live in http/auth-hooks.ts, so that auth/ knows
 * no routes and imports nothing from http/.
 */
import type { Registry } from 'prom-client'
import { Authenticator, type AuthOptions } from './authenticator.js'
import { authMetrics, type AuthMetrics } from './auth-metrics.js'
import type { ConnectionAuth } from './websocket-auth.js'

export type { AuthOptions } from './authenticator.js'

export interface AuthSetup {
  authenticator: Authenticator
  /** Undefined when auth is off: the transport then admits everyone read-write. */
  connection?: ConnectionAuth
  /** Rejection counters; undefined when auth is off (nothing is ever rejected). */
  metrics?: AuthMetrics
}

export const AUTH_OFF_WARNING =
  'AUTHENTICATION IS OFF: anyone who can reach this server may read, write and delete every document. Set --auth-secret, --auth-public-key or --auth-jwks-url (and --auth required) before exposing it.'

/** Throws when the options are contradictory (two key sources, `required` without a key, an http JWKS URL). */
export function setupAuth(options: AuthOptions | undefined, registry: Registry): AuthSetup {
  const authenticator = new Authenticator(options)
  if (!authenticator.enabled) return { authenticator }
  const metrics = authMetrics(registry)
  return { authenticator, metrics, connection: { authenticator, metrics } }
}
