/** Builds the authentication pieces the transport, REST API and pages use, from QuireOptions.auth. */
import type { Registry } from 'prom-client'
import type { Logger } from '../logger.js'
import { Authenticator, type AuthOptions } from './authenticator.js'
import { authMetrics } from './auth-metrics.js'
import { adminGuard, restGuard, type Guard } from './rest-guard.js'
import type { ConnectionAuth } from './websocket-auth.js'

export type { AuthOptions } from './authenticator.js'

export interface AuthSetup {
  authenticator: Authenticator
  /** Undefined when auth is off: the transport then admits everyone read-write. */
  connection?: ConnectionAuth
  restGuard?: Guard
  adminGuard?: Guard
}

/** Throws when the options are contradictory (two key sources, `required` without a key). */
export function setupAuth(options: AuthOptions | undefined, registry: Registry, log: Logger): AuthSetup {
  const authenticator = new Authenticator(options)
  if (!authenticator.enabled) {
    log.warn({}, 'AUTHENTICATION IS OFF: anyone who can reach this server may read, write and delete every document. Set --auth-secret, --auth-public-key or --auth-jwks-url (and --auth required) before exposing it.')
    return { authenticator }
  }
  const metrics = authMetrics(registry)
  return {
    authenticator,
    connection: { authenticator, metrics },
    restGuard: restGuard(authenticator, metrics),
    adminGuard: adminGuard(authenticator, metrics),
  }
}
