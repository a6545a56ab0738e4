/**
 * `quire export <name>`: a document's content as a Yjs update (what `quire import` takes back),
 * or as the JSON and text the REST API exports. JSON and text are computed here from the content,
 * with the same functions the server uses, so both places give the same bytes.
 */
import { writeFile } from 'node:fs/promises'
import * as Y from 'yjs'
import { docJson, stringifyJson, typeJson, typeText } from '../content/json.js'
import { CommandFailure, documentArgument, EXIT_HELP, Refused, WHERE_HELP, writeStdout, type OpsCommand } from './command-line.js'

const FORMATS = ['update', 'json', 'text'] as const
type Format = (typeof FORMATS)[number]

export const exportCommand: OpsCommand = {
  name: 'export',
  synopsis: 'quire export <name> [--format update|json|text] [--out <file>]',
  summary: 'a document as a Yjs update, JSON or text',
  usage: `Usage: quire export <name> [options]

Writes a document's content to stdout or a file: as a Yjs update (its whole state, format v1,
as GET /api/docs/:name/update sends it and quire import takes it back), or as JSON or text (as
GET /api/docs/:name/json and /text export them).

Options:
  --format <format>         update (default), json or text
  --key <type>              json: only this top-level type; text: the Y.Text or Y.XmlFragment
                            to write (needed when the document has more than one top-level type)
  --out <file>              write to this file instead of stdout; an update is never written to
                            a terminal
  -h, --help                show this help

${WHERE_HELP}

With --out, a summary line goes to stdout; without, stdout carries the export alone.
${EXIT_HELP}`,
  options: { format: { type: 'string' }, key: { type: 'string' }, out: { type: 'string' } },
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, open }) {
    const name = documentArgument(positionals[0]!)
    const format = (values.format ?? 'update') as Format
    if (!FORMATS.includes(format)) throw new Refused(`--format must be update, json or text, not ${JSON.stringify(format)}`)
    const key = values.key as string | undefined
    if (key !== undefined && format === 'update') throw new Refused('--key applies to --format json and text only')
    const out = values.out as string | undefined
    if (format === 'update' && out === undefined && process.stdout.isTTY) {
      throw new Refused('not writing a binary Yjs update to a terminal: add --out <file>, redirect stdout (> file), or use --format json or text')
    }
    const backend = await open('source')
    const content = await backend.content(name)
    if (!content) throw new CommandFailure(`document ${JSON.stringify(name)} not found in ${backend.where}`)
    const output = format === 'update' ? content : Buffer.from(render(content, format, key, name))
    if (out !== undefined) {
      await writeFile(out, output)
      await writeStdout(`exported ${JSON.stringify(name)} as ${format}: ${output.byteLength} bytes written to ${out}\n`)
      return 0
    }
    await writeStdout(output)
    // A person at a terminal gets the prompt on a line of its own; a pipe gets the bytes as they are.
    if (process.stdout.isTTY && output.at(-1) !== 0x0a) await writeStdout('\n')
    return 0
  },
}

function render(content: Uint8Array, format: 'json' | 'text', key: string | undefined, name: string): string {
  const doc = new Y.Doc()
  try {
    Y.applyUpdate(doc, content)
    if (format === 'json' && key === undefined) return stringifyJson(docJson(doc))
    const keys = [...doc.share.keys()]
    const chosen = key ?? (keys.length === 1 ? keys[0]! : undefined)
    if (chosen === undefined) {
      throw new CommandFailure(`--format text needs --key: ${JSON.stringify(name)} has ${keys.length === 0 ? 'no top-level types' : `the top-level types ${keys.map((k) => JSON.stringify(k)).join(', ')}`}`)
    }
    const type = doc.share.get(chosen)
    if (!type) throw new CommandFailure(`document ${JSON.stringify(name)} has no shared type ${JSON.stringify(chosen)}`)
    return format === 'json' ? stringifyJson(typeJson(type)) : typeText(chosen, type)
  } catch (error) {
    if (error instanceof CommandFailure) throw error
    throw new CommandFailure((error as Error).message) // a Map or Array asked for as text
  } finally {
    doc.destroy()
  }
}
