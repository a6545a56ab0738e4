/**
 * `quire import <name> <file>`: applies a Yjs update file to a document, creating it if needed,
 * exactly as `POST /api/docs/:name/update` does (against a server it is that request). The update
 * is decoded here first, so a file that is no update at all is refused before the store opens.
 */
import { readFile } from 'node:fs/promises'
import * as Y from 'yjs'
import { InvalidInputError } from '../content/errors.js'
import { CommandFailure, documentArgument, EXIT_HELP, Refused, WHERE_HELP, writeStdout, type OpsCommand } from './command-line.js'
import { ServerError } from './rest-client.js'

export const importCommand: OpsCommand = {
  name: 'import',
  synopsis: 'quire import <name> <file> [--encoding v1|v2]',
  summary: 'apply a Yjs update file to a document',
  usage: `Usage: quire import <name> <file> [options]

Applies the Yjs update in <file> to the document as a server edit (as POST /api/docs/:name/update
does: live clients of a running server receive it), creating the document if needed. An update
that depends on changes the document does not have is refused, and nothing changes. An update
the document already holds changes nothing.

Options:
  --encoding <v1|v2>        the file's update format (default v1, what quire export writes)
  -h, --help                show this help

${WHERE_HELP}

${EXIT_HELP}`,
  options: { encoding: { type: 'string' } },
  positionals: { min: 2, max: 2 },
  async run({ values, positionals, open }) {
    const name = documentArgument(positionals[0]!)
    const file = positionals[1]!
    const encoding = (values.encoding as string | undefined) ?? 'v1'
    if (encoding !== 'v1' && encoding !== 'v2') throw new Refused(`--encoding must be v1 or v2, not ${JSON.stringify(encoding)}`)
    let update: Uint8Array
    try {
      update = new Uint8Array(await readFile(file))
    } catch (error) {
      throw new Refused(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
    update = decoded(update, encoding, file)

    const backend = await open('target')
    let result
    try {
      result = await backend.importUpdate(name, update)
    } catch (error) {
      // The document's own check (or the server's 400): nothing was applied.
      if (error instanceof InvalidInputError || (error instanceof ServerError && error.status === 400)) {
        throw new Refused(`${file} cannot be applied to ${JSON.stringify(name)}: ${error.message}`)
      }
      if (error instanceof ServerError && error.status === 413) throw new CommandFailure(`${file} was refused: ${error.message}`)
      throw error
    }
    const what = result.created ? 'document created' : result.changed === false ? 'nothing new: the document already held all of it' : 'applied'
    await writeStdout(`imported ${file} (${update.byteLength} bytes) into ${JSON.stringify(name)} at ${backend.where}: ${what}\n`)
    return 0
  },
}

/** The update in format v1, fully decoded once, or a refusal naming the file. */
function decoded(bytes: Uint8Array, encoding: 'v1' | 'v2', file: string): Uint8Array {
  let update = bytes
  try {
    if (encoding === 'v2') update = Y.convertUpdateFormatV2ToV1(bytes)
    Y.decodeUpdate(update)
  } catch {
    throw new Refused(`${file} is not a Yjs update in format ${encoding}${encoding === 'v1' ? ' (for v2, pass --encoding v2)' : ''}`)
  }
  return update
}
