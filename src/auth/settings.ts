/**
 * Authentication and TLS settings of `quire serve`, validated like the others in config.ts: a
 * bad value is a one-line reason naming the flag or variable. Files (public key, certificate,
 * private key) are read here, so a missing file fails start-up rather than the first request.
 */
import { createPublicKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { jwksUrlProblem, type AuthOptions } from './authenticator.js'

export const AUTH_SETTINGS = {
  auth: { flag: '--auth', env: 'AUTH', default: 'optional', help: 'optional|required: required refuses to start without a key' },
  'auth-secret': { flag: '--auth-secret', env: 'AUTH_SECRET', default: '', help: 'HS256 shared secret (at least 32 bytes)' },
  'auth-public-key': { flag: '--auth-public-key', env: 'AUTH_PUBLIC_KEY', default: '', help: 'RS256/ES256 public key: PEM file path or the PEM itself' },
  'auth-jwks-url': { flag: '--auth-jwks-url', env: 'AUTH_JWKS_URL', default: '', help: 'JWKS URL of the token issuer' },
  'auth-issuer': { flag: '--auth-issuer', env: 'AUTH_ISSUER', default: '', help: 'required iss claim' },
  'auth-audience': { flag: '--auth-audience', env: 'AUTH_AUDIENCE', default: '', help: 'required aud claim' },
  'readonly-awareness': { flag: '--readonly-awareness', env: 'READONLY_AWARENESS', default: 'relay', help: 'drop|relay cursors and presence of read-only clients' },
  'tls-cert': { flag: '--tls-cert', env: 'TLS_CERT', default: '', help: 'PEM certificate file: serve https/wss' },
  'tls-key': { flag: '--tls-key', env: 'TLS_KEY', default: '', help: 'PEM private key file for --tls-cert' },
} as const

export type AuthSettingName = keyof typeof AUTH_SETTINGS

export interface SecuritySettings {
  auth: AuthOptions
  tls?: { cert: Buffer; key: Buffer }
}

/** `raw` gives a setting's value (flag, environment or default); `fail` throws the one-line ConfigError, prefixed with the setting's name. */
export function parseSecuritySettings(raw: (name: AuthSettingName) => string, fail: (name: AuthSettingName, message: string) => never): SecuritySettings {
  const value = (name: AuthSettingName) => raw(name).trim()
  const mode = value('auth')
  if (mode !== 'optional' && mode !== 'required') fail('auth', 'must be optional or required')
  const awareness = value('readonly-awareness')
  if (awareness !== 'drop' && awareness !== 'relay') fail('readonly-awareness', 'must be drop or relay')

  const secret = value('auth-secret')
  if (secret && Buffer.byteLength(secret) < 32) fail('auth-secret', 'must be at least 32 bytes')
  const publicKey = value('auth-public-key') && readPublicKey(value('auth-public-key'), (message) => fail('auth-public-key', message))
  const jwksUrl = value('auth-jwks-url')
  const jwksProblem = jwksUrl ? jwksUrlProblem(jwksUrl) : undefined
  if (jwksProblem) fail('auth-jwks-url', jwksProblem)
  const keys = [secret, publicKey, jwksUrl].filter(Boolean).length
  if (keys > 1) fail('auth-secret', 'set only one of --auth-secret, --auth-public-key and --auth-jwks-url')
  if (mode === 'required' && keys === 0) fail('auth', '"required" needs --auth-secret, --auth-public-key or --auth-jwks-url')

  const auth: AuthOptions = {
    required: mode === 'required',
    readonlyAwareness: awareness,
    ...(secret && { secret }),
    ...(publicKey && { publicKey }),
    ...(jwksUrl && { jwksUrl }),
    ...(value('auth-issuer') && { issuer: value('auth-issuer') }),
    ...(value('auth-audience') && { audience: value('auth-audience') }),
  }
  const certPath = value('tls-cert')
  const keyPath = value('tls-key')
  if (!certPath !== !keyPath) fail(certPath ? 'tls-key' : 'tls-cert', '--tls-cert and --tls-key go together')
  if (!certPath) return { auth }
  const read = (name: AuthSettingName, path: string) => {
    try {
      return readFileSync(path)
    } catch (error) {
      return fail(name, `cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`)
    }
  }
  return { auth, tls: { cert: read('tls-cert', certPath), key: read('tls-key', keyPath) } }
}

/** The PEM itself, or the path of a file holding it; checked to be an RSA or EC public key. */
function readPublicKey(setting: string, fail: (message: string) => never): string {
  let pem = setting
  if (!setting.includes('-----BEGIN')) {
    try {
      pem = readFileSync(setting, 'utf8')
    } catch (error) {
      return fail(`is neither a PEM public key nor a readable file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`)
    }
  }
  let type: string | undefined
  try {
    type = createPublicKey(pem).asymmetricKeyType
  } catch {
    return fail('is not a PEM public key')
  }
  if (type !== 'rsa' && type !== 'ec') return fail(`must be an RSA or EC public key (got ${type})`)
  return pem
}
