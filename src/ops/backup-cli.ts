/**
 * `quire backup <file>`: every document with its versions into one file (backup-format.ts), one
 * document at a time. From a running server the file is `GET /api/backup`, checked record by
 * record as it arrives and written out again, so a cut-off download never passes for a backup.
 */
import { existsSync } from 'node:fs'
import { documentRecords, endRecord, headerBytes, type BackupCounts } from './backup-format.js'
import { AtomicFile } from './atomic-file.js'
import { CommandFailure, EXIT_HELP, Refused, WHERE_HELP, writeStdout, type OpsCommand } from './command-line.js'
import { StoreRefusal } from './open-store.js'
import { plural, Progress, shown } from './progress.js'

export const backupCommand: OpsCommand = {
  name: 'backup',
  synopsis: 'quire backup <file>',
  summary: 'every document with its versions into one file',
  usage: `Usage: quire backup <file> [options]

Writes every document, with its content and its named versions, into <file>: each document as
it is at one moment, one after the other. The file appears only once it is complete (it is
written as <file>.partial, then renamed). quire restore reads it back; the format is described
in docs/operations.md ("Backup and restore").

Options:
  --force                   replace <file> if it exists
  -h, --help                show this help

${WHERE_HELP}

Against a running server (--server) it needs an admin token when authentication is on. Progress
goes to stderr, the summary to stdout.
${EXIT_HELP}`,
  options: { force: { type: 'boolean' } },
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, open }) {
    const path = positionals[0]!
    if (existsSync(path) && !values.force) throw new Refused(`${path} exists: pass --force to replace it`)
    const backend = await open('source')
    const started = performance.now()
    const total = await backend.count()
    const progress = new Progress()
    const counts: BackupCounts = { documents: 0, versions: 0 }
    const file = await AtomicFile.create(path)
    try {
      await file.write([headerBytes()])
      for await (const doc of backend.backup()) {
        await file.write(documentRecords(doc))
        counts.documents++
        counts.versions += doc.versions.length
        const versions = doc.versions.length > 0 ? ` (${plural(doc.versions.length, 'version')})` : ''
        progress.step(`backed up ${counts.documents}${total === null ? '' : `/${total}`}: ${shown(doc.name)}${versions}`, counts.documents === total)
      }
      await file.write(endRecord(counts))
      await file.commit()
    } catch (error) {
      progress.finish()
      await file.abort()
      if (error instanceof StoreRefusal && counts.documents === 0) throw error
      throw new CommandFailure(`backup stopped after ${plural(counts.documents, 'document')}: ${(error as Error).message}; no backup was written`)
    }
    progress.finish()
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    await writeStdout(`done in ${seconds} s: ${plural(counts.documents, 'document')}, ${plural(counts.versions, 'version')}, ${file.bytes} bytes written to ${path}\n`)
    return 0
  },
}
