/** `quire inspect <name>`: a document's storage figures, clients, shared types and versions. */
import { CommandFailure, documentArgument, EXIT_HELP, WHERE_HELP, writeStdout, type OpsCommand } from './command-line.js'
import { formatInspection, inspect } from './inspect.js'

export const inspectCommand: OpsCommand = {
  name: 'inspect',
  synopsis: 'quire inspect <name> [--json]',
  summary: 'sizes, log, clients, shared types and versions of a document',
  usage: `Usage: quire inspect <name> [options]

Describes a document: stored size, updates in the log (not yet compacted), sequence number,
created and updated times, its versions (id, date, bytes, label), the Yjs clients that wrote it
with their clocks (its state vector), and its top-level shared types with their kind (text, map,
array or xml, inferred from the content as the JSON export does; unknown when nothing is live).

Options:
  --json                    one JSON object instead of the readable report
  -h, --help                show this help

${WHERE_HELP}

${EXIT_HELP}`,
  options: { json: { type: 'boolean' } },
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, open }) {
    const name = documentArgument(positionals[0]!)
    const backend = await open('source')
    const meta = await backend.info(name)
    const content = meta && (await backend.content(name))
    if (!meta || !content) throw new CommandFailure(`document ${JSON.stringify(name)} not found in ${backend.where}`)
    const report = inspect(backend.where, meta, content, await backend.versions(name))
    await writeStdout((values.json ? JSON.stringify(report) : formatInspection(report)) + '\n')
    return 0
  },
}
