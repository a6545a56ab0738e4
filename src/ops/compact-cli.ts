/**
 * `quire compact [<name>…]`: folds documents' logs into their stored state, as a server does on
 * its own once a log is long enough and when a document unloads. Useful before a backup of a
 * stopped store, or to reclaim space after a burst of edits. Against a running server it calls
 * the admin route `POST /api/docs/:name/compact`, which compacts through the document's room.
 */
import { CommandFailure, documentArgument, EXIT_HELP, WHERE_HELP, writeStdout, type OpsCommand } from './command-line.js'
import { StoreRefusal } from './open-store.js'
import { plural, Progress, shown } from './progress.js'

export const compactCommand: OpsCommand = {
  name: 'compact',
  synopsis: 'quire compact [<name>…]',
  summary: 'fold the logs of documents into their stored state',
  usage: `Usage: quire compact [<name>…] [options]

Compacts the named documents, or every document when none is named: each one's log of updates
is folded into its stored state, in one atomic write, leaving its content as it was. Against a
running server (--server) it needs an admin token when authentication is on.

Options:
  -h, --help                show this help

${WHERE_HELP}

Progress goes to stderr, the summary to stdout.
${EXIT_HELP}
A named document that does not exist is a failure (exit 1), reported once the others are done.`,
  options: {},
  positionals: { min: 0, max: Infinity },
  async run({ positionals, open, note }) {
    const named = positionals.map(documentArgument)
    const backend = await open('source')
    const started = performance.now()
    const total = named.length > 0 ? named.length : await backend.count()
    const progress = new Progress()
    const sum = { documents: 0, missing: 0, folded: 0, before: 0, after: 0 }
    let index = 0
    try {
      for await (const name of named.length > 0 ? named : backend.names()) {
        index++
        const result = await backend.compact(name)
        if (!result) {
          sum.missing++
          progress.note(`not found: ${shown(name)}`)
          continue
        }
        sum.documents++
        sum.folded += result.before.logUpdates - result.after.logUpdates
        sum.before += result.before.bytes
        sum.after += result.after.bytes
        const counts = `log ${result.before.logUpdates} → ${result.after.logUpdates}, ${result.before.bytes} → ${result.after.bytes} bytes`
        progress.step(`compacted ${index}${total === null ? '' : `/${total}`}: ${shown(name)} (${counts})`, index === total)
      }
    } catch (error) {
      progress.finish()
      if (error instanceof StoreRefusal && sum.documents === 0) throw error // refused up front: nothing done
      throw new CommandFailure(`compaction stopped after ${plural(sum.documents, 'document')}: ${(error as Error).message}`)
    }
    progress.finish()
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    await writeStdout(
      `done in ${seconds} s: ${plural(sum.documents, 'document')} compacted, ${sum.folded} log updates folded, ` +
        `${sum.before} → ${sum.after} bytes stored${sum.missing > 0 ? `, ${sum.missing} not found` : ''}\n`,
    )
    if (sum.missing === 0) return 0
    note(`quire: ${plural(sum.missing, 'document')} not found in ${backend.where}`)
    return 1
  },
}
