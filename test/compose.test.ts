/**
 * docker-compose.yml and docker-compose.cluster.yml, checked by parsing (no Docker engine here):
 * ports are published on loopback only (auth is off by default), and every variable they set is
 * one `quire serve` reads. deploy/nginx.conf is checked for what WebSockets need; it runs for real
 * in cluster-nginx.test.ts.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { SETTINGS } from '../src/config.js'

interface Service {
  image?: string
  build?: unknown
  ports?: string[]
  environment?: Record<string, string>
  depends_on?: string[] | Record<string, { condition?: string }>
  healthcheck?: { test?: string[] | string }
  volumes?: string[]
}

interface Compose {
  services: Record<string, Service>
}

const read = (file: string) => readFileSync(join(import.meta.dirname, '..', file), 'utf8')
// `merge`: the cluster file shares the instances' settings with YAML merge keys (`<<: *anchor`), as compose reads them.
const load = (file: string) => parse(read(file), { merge: true }) as Compose
const known = new Set<string>(Object.values(SETTINGS).map((s) => s.env))

const compose = load('docker-compose.yml')

describe('docker-compose.yml', () => {
  it('publishes Quire on 127.0.0.1 only', () => {
    const ports = compose.services.quire!.ports ?? []
    expect(ports.length).toBeGreaterThan(0)
    for (const port of ports) expect(port).toMatch(/^127\.0\.0\.1:\d+:\d+$/)
  })

  it('sets only variables quire serve knows', () => {
    for (const name of Object.keys(compose.services.quire!.environment ?? {})) expect(known).toContain(name)
  })
})

describe('docker-compose.cluster.yml', () => {
  const cluster = load('docker-compose.cluster.yml')
  const services = cluster.services
  const quires = Object.keys(services).filter((name) => /^quire-\d+$/.test(name))

  it('runs two Quire instances built from this repository, publishing no port of their own', () => {
    expect(quires).toEqual(['quire-1', 'quire-2'])
    for (const name of quires) {
      expect(services[name]!.build, name).toBe('.')
      expect(services[name]!.ports, name).toBeUndefined()
    }
  })

  it('publishes nginx on 127.0.0.1 only, with deploy/nginx.conf mounted read-only', () => {
    const nginx = services.nginx!
    expect(nginx.image).toMatch(/^nginx(:|$)/)
    const ports = nginx.ports ?? []
    expect(ports.length).toBeGreaterThan(0)
    for (const port of ports) expect(port).toMatch(/^127\.0\.0\.1:\d+:80$/)
    expect(nginx.volumes).toContain('./deploy/nginx.conf:/etc/nginx/nginx.conf:ro')
    // Nothing else reaches the outside.
    for (const [name, service] of Object.entries(services)) if (name !== 'nginx') expect(service.ports, name).toBeUndefined()
  })

  it('sets only variables quire serve knows, including the database and Redis of this file', () => {
    const postgres = services.postgres!.environment!
    for (const name of quires) {
      const env = services[name]!.environment ?? {}
      for (const variable of Object.keys(env)) expect(known, `${name}: ${variable}`).toContain(variable)
      expect(env.HOST, name).toBe('0.0.0.0')
      expect(env.INSTANCE_ID, name).toBe(name)
      const database = new URL(env.DATABASE_URL!)
      expect(database.protocol).toBe('postgres:')
      expect(database.hostname).toBe('postgres')
      expect(decodeURIComponent(database.username)).toBe(postgres.POSTGRES_USER)
      expect(decodeURIComponent(database.password)).toBe(postgres.POSTGRES_PASSWORD)
      expect(database.pathname).toBe(`/${postgres.POSTGRES_DB}`)
      const redis = new URL(env.REDIS_URL!)
      expect(redis.protocol).toBe('redis:')
      expect(redis.hostname).toBe('redis')
    }
    // Instances tell themselves apart in logs and on the bus.
    expect(new Set(quires.map((name) => services[name]!.environment!.INSTANCE_ID)).size).toBe(quires.length)
  })

  it('depends only on services it defines; instances wait for a healthy database and Redis', () => {
    for (const [name, service] of Object.entries(services)) {
      const targets = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {})
      for (const target of targets) expect(Object.keys(services), `${name} depends on ${target}`).toContain(target)
    }
    expect(Object.keys(services.nginx!.depends_on ?? {}).sort()).toEqual(quires)
    for (const name of quires) {
      expect(services[name]!.depends_on, name).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } })
    }
  })

  it('gives every instance, the database and Redis a health check', () => {
    for (const name of quires) {
      const test = services[name]!.healthcheck?.test
      expect(test, name).toBeDefined()
      expect(JSON.stringify(test)).toContain('/readyz')
      // Compose substitutes `${…}` itself: a JavaScript template in the command would reach node mangled.
      expect(JSON.stringify(test)).not.toContain('${')
      expect(JSON.stringify(test)).toContain(':1234/')
      expect(services[name]!.environment!.PORT).toBe('1234')
    }
    expect(JSON.stringify(services.postgres!.healthcheck?.test)).toContain('pg_isready')
    expect(JSON.stringify(services.redis!.healthcheck?.test)).toContain('ping')
  })
})

describe('deploy/nginx.conf', () => {
  const conf = read('deploy/nginx.conf')
  // Directives only: comments hold an alternative that must not count.
  const directives = conf.replace(/#.*$/gm, '')

  /** nginx time: a number with an optional unit (ms, s, m, h, d, w, M, y; none means seconds), summed. */
  const seconds = (value: string): number => {
    const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, M: 2_592_000, y: 31_536_000 }
    let total = 0
    const rest = value.replace(/(\d+)(ms|s|m|h|d|w|M|y)?/g, (_, n: string, unit: string | undefined) => {
      total += Number(n) * units[unit ?? 's']!
      return ''
    })
    expect(rest.trim(), `nginx time ${value}`).toBe('')
    return total
  }

  it('upgrades WebSockets: HTTP/1.1 and the Upgrade and Connection headers from a map', () => {
    expect(directives).toMatch(/map\s+\$http_upgrade\s+\$connection_upgrade\s*\{[^}]*default\s+upgrade;/)
    expect(directives).toMatch(/proxy_http_version\s+1\.1;/)
    expect(directives).toMatch(/proxy_set_header\s+Upgrade\s+\$http_upgrade;/)
    expect(directives).toMatch(/proxy_set_header\s+Connection\s+\$connection_upgrade;/)
  })

  it('keeps idle WebSockets open well past the 30 s ping', () => {
    for (const directive of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const value = new RegExp(`${directive}\\s+([^;]+);`).exec(directives)?.[1]
      expect(value, directive).toBeDefined()
      expect(seconds(value!), directive).toBeGreaterThanOrEqual(60)
    }
  })

  it('balances over both instances and skips one that is down', () => {
    const upstream = /upstream\s+quire\s*\{([^}]*)\}/.exec(directives)?.[1]
    expect(upstream).toBeDefined()
    expect([...upstream!.matchAll(/^\s*server\s+(\S+);/gm)].map((m) => m[1])).toEqual(['quire-1:1234', 'quire-2:1234'])
    expect(directives).toMatch(/proxy_pass\s+http:\/\/quire;/)
    expect(directives).toMatch(/proxy_next_upstream\s+error\s+timeout;/)
  })

  it('passes the dashboard\'s event stream and 16 MiB uploads, and tells Quire who asked', () => {
    expect(directives).toMatch(/proxy_buffering\s+off;/)
    expect(directives).toMatch(/client_max_body_size\s+16m;/)
    for (const header of ['Host', 'X-Forwarded-For', 'X-Forwarded-Host', 'X-Forwarded-Proto']) {
      expect(directives).toMatch(new RegExp(`proxy_set_header\\s+${header}\\s`))
    }
  })
})
