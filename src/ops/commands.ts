/**
 * The operator commands that work on a stopped store or a running server, for the dispatcher in
 * cli.ts: `quire <name> …` runs the one with that name (command-line.ts), `quire --help` lists
 * their synopses.
 */
import type { OpsCommand } from './command-line.js'
import { backupCommand } from './backup-cli.js'
import { compactCommand } from './compact-cli.js'
import { exportCommand } from './export-cli.js'
import { importCommand } from './import-cli.js'
import { inspectCommand } from './inspect-cli.js'
import { restoreCommand } from './restore-cli.js'

export const OPS_COMMANDS: readonly OpsCommand[] = [exportCommand, importCommand, inspectCommand, compactCommand, backupCommand, restoreCommand]

export { runCommand } from './command-line.js'
