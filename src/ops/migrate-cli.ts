/**
 * `quire migrate`: the command-line side of migrate.ts. Arguments, opening both stores, progress
 * on stderr, the summary on stdout. Exit status 0 when everything is copied, 1 when a document
 * conflicts or the run stopped midway (running it again finishes the job), 2 when nothing was
 * done (bad arguments, a store that cannot be used).
 */
import { parseArgs } from 'node:util'
import { migrate, type DocumentResult, type MigrationSummary } from './migrate.js'
import { describeLocation, openStore, parseLocation, sameLocation, StoreRefusal } from './open-store.js'
import type { DocStore } from '../storage/doc-store.js'
import { Progress, shown } from './progress.js'

export const MIGRATE_USAGE = `Usage: quire migrate --from <store> --to <store> [options]

Copies every document, with its named versions, from one store to another. A store is a LevelDB
data directory or a postgres:// URL. Stop the servers using either store first (a LevelDB
directory in use is refused; PostgreSQL is not locked, and edits made meanwhile may be missed).
Safe to run again: documents already copied are skipped, and a run that was interrupted is
finished without copying anything twice. Documents that differ in the target are left alone
and reported as conflicts.

Options:
  --from <dir|url>       store to copy from (a directory must already hold Quire data)
  --to <dir|url>         store to copy into (a directory is created, tables are set up)
  --from-schema <name>   PostgreSQL schema of --from (default public)
  --to-schema <name>     PostgreSQL schema of --to (default public)
  -h, --help             show this help

Exit status: 0 all copied, 1 conflicts or stopped by an error (fix, then run again),
2 nothing done (bad arguments, or a store that cannot be used).`

/** Runs the command and resolves with the exit status; never calls process.exit itself. */
export async function migrateCommand(argv: string[]): Promise<number> {
  const refuse = (message: string) => {
    process.stderr.write(`quire: ${message}\n`)
    return 2
  }
  let values
  try {
    values = parseArgs({
      args: argv,
      options: {
        from: { type: 'string' },
        to: { type: 'string' },
        'from-schema': { type: 'string' },
        'to-schema': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values
  } catch (error) {
    return refuse(`${(error as Error).message} (see quire migrate --help)`)
  }
  if (values.help) {
    process.stdout.write(MIGRATE_USAGE + '\n')
    return 0
  }
  if (values.from === undefined || values.to === undefined) return refuse('migrate needs both --from and --to (see quire migrate --help)')

  let source: DocStore | undefined
  let target: DocStore | undefined
  const progress = new Progress(process.stderr)
  let total: number | undefined
  // On a terminal the redrawn line names the document; in a log each line also says what became of it.
  const report = (result: DocumentResult, index: number): void => {
    if (result.outcome === 'conflict') progress.note(`conflict: ${shown(result.name)}: ${result.reason}; left as it is`)
    const line = `migrated ${index}/${total ?? '–'}: ${shown(result.name)}`
    const versions = result.versions > 0 ? `, ${result.versions} version${result.versions === 1 ? '' : 's'}` : ''
    progress.step(process.stderr.isTTY ? line : `${line} (${result.outcome}${versions})`, index === total)
  }
  try {
    const from = parseLocation(values.from, values['from-schema'], '--from')
    const to = parseLocation(values.to, values['to-schema'], '--to')
    if (sameLocation(from, to)) return refuse(`--from and --to are the same store (${describeLocation(from)})`)
    source = await openStore(from, 'source')
    target = await openStore(to, 'target')
    const summary = await migrate(source, target, { onTotal: (n) => (total = n), onDocument: report })
    progress.finish()
    process.stdout.write(summaryLine(summary) + '\n')
    if (summary.conflicts === 0) return 0
    process.stderr.write(`quire: ${summary.conflicts} document${summary.conflicts === 1 ? '' : 's'} left as they are in the target (conflicts above)\n`)
    return 1
  } catch (error) {
    if (error instanceof StoreRefusal) return refuse(error.message)
    progress.finish()
    process.stderr.write(`quire: migration stopped: ${(error as Error).message}; run it again to finish\n`)
    return 1
  } finally {
    await Promise.allSettled([source?.close(), target?.close()])
  }
}

export function summaryLine(s: MigrationSummary): string {
  return (
    `done in ${s.seconds.toFixed(1)} s: ${s.documents} documents (${s.copied} copied, ${s.completed} completed, ` +
    `${s.skipped} skipped, ${s.conflicts} conflicts), ${s.versions} versions copied, ${s.bytes} bytes written`
  )
}
