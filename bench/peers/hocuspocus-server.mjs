#!/usr/bin/env node
/**
 * Hocuspocus as its users run it: `@hocuspocus/server` with `@hocuspocus/extension-sqlite`, the
 * documents in one SQLite file in the data dir, every other setting at its default (store
 * debounced 2 s, at most 10 s; stored at once when the last client of a document leaves; no
 * authentication hook, so any token is accepted; 60 s timeout for a socket that sends nothing).
 *
 *   HOST=127.0.0.1 PORT=0 DATA_DIR=/tmp/x node bench/hocuspocus-server.mjs
 *     → "hocuspocus <version> listening on 127.0.0.1:<port>"
 *
 * `quiet: true` drops the start screen; nothing else is logged unless something goes wrong
 * (Hocuspocus reports problems with console.warn/console.error, i.e. on stderr). On SIGTERM or
 * SIGINT Hocuspocus' own handler (`stopOnSignals`, on by default) closes every connection, stores
 * what is still pending, unloads the documents and exits with code 0.
 */
import { mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Server } from '@hocuspocus/server'
import { SQLite } from '@hocuspocus/extension-sqlite'

const host = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 0)
const dataDir = process.env.DATA_DIR
if (!dataDir) {
  console.error('hocuspocus-server: DATA_DIR is required')
  process.exit(2)
}
mkdirSync(dataDir, { recursive: true })

const require = createRequire(import.meta.url)
// The package exports no ./package.json: read it next to its entry point (dist/…).
const { version } = JSON.parse(readFileSync(join(dirname(require.resolve('@hocuspocus/server')), '..', 'package.json'), 'utf8'))

const server = new Server({
  address: host,
  port, // 0: the OS picks one (listen(0) would fall back to the default port 80)
  quiet: true,
  extensions: [new SQLite({ database: join(dataDir, 'hocuspocus.sqlite') })],
})
await server.listen()
console.log(`hocuspocus ${version} listening on ${host}:${server.address.port}`)
