/**
 * JWT verification with jose: an HS256 shared secret, an RS256/ES256 public key (PEM), or a JWKS
 * URL, with optional issuer and audience checks. `enabled` is false when no key is configured:
 * then every request is the anonymous read-write principal.
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto'
import type { JWTVerifyGetKey } from 'jose'
import { ANONYMOUS, ClaimsError, principalFromClaims, type Principal } from './permissions.js'
import { isLoopbackHost } from './origins.js'

export interface AuthOptions {
  /** HS256 shared secret. */
  secret?: string
  /** RS256 or ES256 public key (or certificate) as PEM text. */
  publicKey?: string
  /** URL of a JSON Web Key Set (RS256/ES256 keys). */
  jwksUrl?: string
  /** Required `iss`. */
  issuer?: string
  /** Required `aud` (one of the token's audiences). */
  audience?: string
  /** Refuse to start without a key. Default false: no key means anonymous read-write. */
  required?: boolean
  /** What happens to awareness (cursors, presence) from read-only connections. Default `relay`. */
  readonlyAwareness?: 'drop' | 'relay'
}

/**
 * A token that is missing, invalid or expired (401 / close 4401), a forbidden document (403 / 4403),
 * or keys that cannot be fetched right now (503 / close 1013: retryable, unlike 44xx).
 */
export class AuthError extends Error {
  override name = 'AuthError'
  constructor(
    readonly status: 401 | 403 | 503,
    message: string,
  ) {
    super(message)
  }
}

type Jose = typeof import('jose')
let jose: Promise<Jose> | undefined
/** jose is loaded on the first token: a server without auth never pays its ~60 ms of start-up. */
const loadJose = (): Promise<Jose> => (jose ??= import('jose'))

export class Authenticator {
  readonly enabled: boolean
  private key: KeyObject | JWTVerifyGetKey | undefined
  private readonly jwksUrl: URL | undefined
  private readonly algorithms: string[]

  constructor(readonly options: AuthOptions = {}) {
    const sources = [options.secret, options.publicKey, options.jwksUrl].filter((s) => s !== undefined && s !== '')
    if (sources.length > 1) throw new Error('configure only one of auth secret, public key and JWKS URL')
    if (options.required && sources.length === 0) throw new Error('auth is required but no secret, public key or JWKS URL is configured')
    this.enabled = sources.length === 1
    if (options.secret) {
      this.key = createSecretKey(Buffer.from(options.secret, 'utf8'))
      this.algorithms = ['HS256']
    } else if (options.publicKey) {
      const key = createPublicKey(options.publicKey)
      this.key = key
      if (key.asymmetricKeyType === 'rsa') this.algorithms = ['RS256']
      else if (key.asymmetricKeyType === 'ec') this.algorithms = ['ES256']
      else throw new Error(`public key type ${key.asymmetricKeyType} is not RSA or EC`)
    } else if (options.jwksUrl) {
      const problem = jwksUrlProblem(options.jwksUrl)
      if (problem) throw new Error(`auth JWKS URL ${problem}`)
      this.jwksUrl = new URL(options.jwksUrl) // the key set itself is created with the first verification
      this.algorithms = ['RS256', 'ES256']
    } else {
      this.algorithms = []
    }
  }

  get readonlyAwareness(): 'drop' | 'relay' {
    return this.options.readonlyAwareness ?? 'relay'
  }

  /** The principal a token stands for. Throws AuthError(401) for a missing, invalid or expired token. */
  async verify(token: string | undefined): Promise<Principal> {
    if (!this.enabled) return ANONYMOUS
    if (!token) throw new AuthError(401, 'missing token')
    const { createRemoteJWKSet, errors, jwtVerify } = await loadJose()
    if (this.jwksUrl) this.key ??= createRemoteJWKSet(this.jwksUrl)
    try {
      const { payload } = await jwtVerify(token, this.key as KeyObject, {
        algorithms: this.algorithms,
        issuer: this.options.issuer || undefined,
        audience: this.options.audience || undefined,
        requiredClaims: ['exp'],
      })
      return principalFromClaims(payload)
    } catch (error) {
      // A JWKS endpoint that is down is not the client's fault: it should retry, not give up.
      if (this.options.jwksUrl && isKeySetFailure(errors, error)) {
        throw new AuthError(503, 'signing keys unavailable, try again later')
      }
      throw new AuthError(401, reasonOf(errors, error))
    }
  }
}

/**
 * Why a JWKS URL is refused, or undefined if it is fine. The key set decides which tokens are
 * genuine, so fetching it over plain http would let anyone on the network path sign tokens;
 * http is accepted only for a loopback host (a sidecar, a test key server), where there is no path.
 */
export function jwksUrlProblem(text: string): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return 'must be an https URL'
  }
  if (url.protocol === 'https:') return undefined
  if (url.protocol !== 'http:') return 'must be an https URL'
  if (isLoopbackHost(url.hostname)) return undefined
  return 'must use https: keys fetched over plain http could be replaced on the way (http is accepted only for localhost, 127.0.0.0/8 and [::1])'
}

function reasonOf(errors: Jose['errors'], error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired'
  if (error instanceof errors.JWTClaimValidationFailed) return `invalid token: ${error.claim} claim check failed`
  if (error instanceof ClaimsError) return `invalid token: ${error.message}`
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWSSignatureVerificationFailed) return 'invalid token: bad signature'
  if (error instanceof errors.JOSEError) return 'invalid token'
  return 'invalid token'
}

/** jose reports an unreachable, failing or unparsable key set as a timeout, a bare JOSEError or a fetch TypeError. */
function isKeySetFailure(errors: Jose['errors'], error: unknown): boolean {
  if (error instanceof errors.JWKSTimeout) return true
  if (error instanceof errors.JOSEError) return error.constructor === errors.JOSEError
  return !(error instanceof ClaimsError)
}
