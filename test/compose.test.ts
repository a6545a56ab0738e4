/**
 * docker-compose.yml, checked by parsing (no Docker engine here): it publishes the port on
 * loopback only (auth is off by default), and every variable it sets is one `quire serve` reads.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { SETTINGS } from '../src/config.js'

interface Compose {
  services: Record<string, { ports?: string[]; environment?: Record<string, string> }>
}

const compose = parse(readFileSync(join(import.meta.dirname, '../docker-compose.yml'), 'utf8')) as Compose

describe('docker-compose.yml', () => {
  it('publishes Quire on 127.0.0.1 only', () => {
    const ports = compose.services.quire!.ports ?? []
    expect(ports.length).toBeGreaterThan(0)
    for (const port of ports) expect(port).toMatch(/^127\.0\.0\.1:\d+:\d+$/)
  })

  it('sets only variables quire serve knows', () => {
    const known = new Set<string>(Object.values(SETTINGS).map((s) => s.env))
    for (const name of Object.keys(compose.services.quire!.environment ?? {})) expect(known).toContain(name)
  })
})
