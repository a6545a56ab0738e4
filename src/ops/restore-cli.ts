/**
 * `quire restore <file>`: every document of a backup back into a store or a running server.
 *
 * The file is read twice. The first pass checks all of it (header, checksums, order, the end
 * record and its counts, every content and version a complete Yjs state) and writes nothing, so
 * a truncated or damaged backup is refused before any document is touched: a restore never
 * reports success on half a file. The second pass restores document by document
 * (restore-document.ts): missing ones are created, identical ones skipped, differing ones left
 * alone as conflicts. Running it again is safe.
 */
import { createReadStream } from 'node:fs'
import { access } from 'node:fs/promises'
import { BackupFormatError, BackupReader, type BackupCounts } from './backup-format.js'
import { CommandFailure, EXIT_HELP, Refused, WHERE_HELP, writeStdout, type OpsCommand } from './command-line.js'
import { StoreRefusal } from './open-store.js'
import { plural, Progress, shown } from './progress.js'
import { checkDocument, type RestoreSummary } from './restore-document.js'
import { ServerError } from './rest-client.js'

export const restoreCommand: OpsCommand = {
  name: 'restore',
  synopsis: 'quire restore <file>',
  summary: 'every document of a backup back, skipping identical ones',
  usage: `Usage: quire restore <file> [options]

Restores every document of a backup written by quire backup, with its named versions. A
document that does not exist is created; one that exists with the same content and versions is
skipped, so running it again is safe; one that exists with other content or versions is left as
it is and reported as a conflict. The whole file is checked before anything is written: a
truncated or damaged backup is refused and nothing is restored.

Options:
  -h, --help                show this help

${WHERE_HELP}

Against a running server (--server) it needs an admin token when authentication is on; live
clients of restored documents receive them as an edit. Progress goes to stderr, the summary to
stdout.
${EXIT_HELP}
Conflicts exit with 1, once every other document is restored.`,
  options: {},
  positionals: { min: 1, max: 1 },
  async run({ positionals, open }) {
    const path = positionals[0]!
    try {
      await access(path)
    } catch (error) {
      throw new Refused(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
    const progress = new Progress()
    const counts = await check(path, progress)

    const backend = await open('target')
    const started = performance.now()
    const total = counts.documents
    let summary: RestoreSummary
    try {
      const documents = new BackupReader(createReadStream(path)).documents()
      summary = await backend.restore(documents, ({ name, index, result }) => {
        if (!result) return progress.step(`sent ${index}/${total}: ${shown(name)}`, index === total)
        if (result.outcome === 'conflict') progress.note(`conflict: ${shown(name)}: ${result.reason}; left as it is`)
        const versions = result.versions > 0 ? `, ${plural(result.versions, 'version')}` : ''
        progress.step(`restored ${index}/${total}: ${shown(name)} (${result.outcome}${versions})`, index === total)
      })
    } catch (error) {
      progress.finish()
      if (error instanceof StoreRefusal) throw error // refused by the server up front (a token without the admin role)
      const message = error instanceof ServerError ? error.message : (error as Error).message
      throw new CommandFailure(`restore stopped: ${message}; documents restored before the error stay, run it again to finish`)
    }
    progress.finish()
    if (backend.kind === 'server') for (const { name, reason } of summary.conflicted) progress.note(`conflict: ${shown(name)}: ${reason}; left as it is`)
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    await writeStdout(
      `done in ${seconds} s: ${plural(summary.documents, 'document')} (${summary.restored} restored, ${summary.completed} completed, ` +
        `${summary.skipped} skipped, ${summary.conflicts} conflicts), ${plural(summary.versions, 'version')} restored, ${summary.bytes} bytes written\n`,
    )
    if (summary.conflicts === 0) return 0
    process.stderr.write(`quire: ${plural(summary.conflicts, 'document')} left as they are in ${backend.where} (conflicts above)\n`)
    return 1
  },
}

/** The first pass: reads and checks the whole file, writes nothing. */
async function check(path: string, progress: Progress): Promise<BackupCounts> {
  const reader = new BackupReader(createReadStream(path))
  let checked = 0
  try {
    for await (const doc of reader.documents()) {
      checkDocument(doc)
      checked++
      // Only on a terminal: a log needs one line per restored document, not two.
      if (process.stderr.isTTY) progress.step(`checking ${path}: ${checked} documents`)
    }
  } catch (error) {
    progress.finish()
    if (error instanceof BackupFormatError) throw new Refused(`${path}: ${error.message}; nothing was restored`)
    throw new Refused(`cannot read ${path}: ${(error as Error).message}; nothing was restored`)
  }
  progress.finish()
  return reader.end!
}
