/**
 * Installs the bench's peer servers (bench/peers: Hocuspocus with SQLite) when they are missing
 * or their lock changed. They are kept out of Quire's own dependencies so that `npm ci` for
 * running Quire does not compile SQLite; `npm test` and `npm run bench` need them.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

const peers = fileURLToPath(new URL('../bench/peers', import.meta.url))
const installed = join(peers, 'node_modules', '.package-lock.json')
const lock = join(peers, 'package-lock.json')
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  process.stderr.write('installing the bench peers (bench/peers: Hocuspocus, SQLite)…\n')
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  execFileSync(npm, ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: peers, stdio: 'inherit' })
}
