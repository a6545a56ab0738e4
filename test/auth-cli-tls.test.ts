/**
 * `quire serve` with authentication and TLS: `--auth required` without a key refuses to start,
 * bad auth settings fail with one line, no key logs a loud warning, and `--tls-cert`/`--tls-key`
 * serve wss and https with a self-signed certificate made here with openssl.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { cleanup, synced, tempDir, waitFor, withTimeout } from './helpers.js'
import { killChildren, spawnCli, startChild } from './child-server.js'
import { SECRET, closeClients, providerWith, sign } from './auth-helpers.js'

afterEach(async () => {
  closeClients()
  await killChildren()
  await cleanup()
})

const exitOf = (proc: { exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }) =>
  withTimeout(proc.exited, 10_000, 'the process to exit')

describe('quire serve: auth settings', () => {
  it.each<{ what: string; args: string[]; env: Record<string, string>; names: string }>([
    { what: '--auth required without a key', args: ['--auth', 'required'], env: {}, names: '--auth' },
    { what: 'AUTH=required without a key', args: [], env: { AUTH: 'required' }, names: 'AUTH' },
    { what: 'AUTH=maybe', args: [], env: { AUTH: 'maybe' }, names: 'AUTH' },
    { what: 'a short secret', args: ['--auth-secret', 'short'], env: {}, names: '--auth-secret' },
    { what: 'a secret and a JWKS URL', args: ['--auth-secret', SECRET, '--auth-jwks-url', 'https://x.test/jwks'], env: {}, names: '--auth-secret' },
    { what: 'a missing public key file', args: ['--auth-public-key', '/nonexistent/key.pem'], env: {}, names: '--auth-public-key' },
    { what: 'a JWKS URL that is not http(s)', args: [], env: { AUTH_JWKS_URL: 'ftp://x' }, names: 'AUTH_JWKS_URL' },
    { what: '--tls-cert without --tls-key', args: ['--tls-cert', '/tmp/c.pem'], env: {}, names: '--tls-key' },
  ])('refuses $what with a one-line reason, exit non-zero', async ({ args, env, names }) => {
    const dataDir = join(await tempDir(), 'data')
    const proc = spawnCli(args, { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ...env })
    const exit = await exitOf(proc)
    expect(exit.code).not.toBe(0)
    const reason = proc.stderr.trimEnd()
    expect(reason).toMatch(/^quire: /)
    expect(reason).not.toContain('\n')
    expect(reason).toContain(names)
    expect(reason).not.toContain(SECRET)
  })

  it('warns loudly when started without a key', async () => {
    const child = await startChild({ dataDir: await tempDir() })
    await waitFor(() => child.stdout.includes('AUTHENTICATION IS OFF'), 'the warning')
    const line = child.stdout.split('\n').find((l) => l.includes('AUTHENTICATION IS OFF'))!
    expect(JSON.parse(line).level).toBe(40) // pino warn
  })
})

describe('TLS', () => {
  it('serves wss and https with --tls-cert/--tls-key, auth on', async () => {
    const dir = await tempDir()
    const cert = join(dir, 'cert.pem')
    const key = join(dir, 'key.pem')
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
    const ca = readFileSync(cert)
    const child = await startChild({ dataDir: join(dir, 'data'), env: { TLS_CERT: cert, TLS_KEY: key, AUTH_SECRET: SECRET } })
    const token = await sign({ claims: { docs: { '*': 'write' } } })
    class TrustingWebSocket extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, { ca })
      }
    }
    const a = providerWith(`wss://127.0.0.1:${child.port}`, 'secure', token, { WebSocketPolyfill: TrustingWebSocket })
    await synced(a)
    a.doc.getText('t').insert(0, 'over tls')
    const text = await waitForText(child.port, ca, token)
    expect(text).toBe('over tls')
    // Plain ws:// to the TLS port does not get a connection.
    const plain = new WebSocket(`ws://127.0.0.1:${child.port}/secure`)
    const outcome = await withTimeout(new Promise<string>((resolve) => {
      plain.once('open', () => resolve('open'))
      plain.once('error', () => resolve('error'))
      plain.once('close', () => resolve('close'))
    }), 5000, 'plain ws outcome')
    expect(outcome).not.toBe('open')
  })
})

function httpsGet(port: number, path: string, ca: Buffer, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode!, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

async function waitForText(port: number, ca: Buffer, token: string): Promise<string> {
  let last = ''
  await waitFor(async () => {
    const res = await httpsGet(port, '/api/docs/secure/text?key=t', ca, token)
    last = res.body
    return res.status === 200 && res.body === 'over tls'
  }, 'the edit over https')
  return last
}
