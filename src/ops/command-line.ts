/**
 * What every store-or-server operator command shares: the options naming where the documents
 * are, opening that place as a Backend, `--help`, and turning failures into one `quire: …` line
 * and an exit status:
 *   0  done;
 *   1  failed or partly done: an unknown document, conflicts, an error midway (run it again);
 *   2  refused before anything was written: bad arguments, a store or server that cannot be
 *      used (in use, unreachable, token refused), a backup file that cannot be restored.
 */
import { parseArgs } from 'node:util'
import { validateDocumentName } from '../protocol/document-name.js'
import { DataDirInUseError } from '../storage/doc-store.js'
import type { Backend } from './backend.js'
import { describeLocation, openStore, parseLocation, StoreRefusal, type StoreLocation } from './open-store.js'
import { ServerBackend } from './server-backend.js'
import { StoreBackend } from './store-backend.js'

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean }

export const WHERE_OPTIONS = {
  data: { type: 'string' },
  'database-url': { type: 'string' },
  'database-schema': { type: 'string' },
  server: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Record<string, OptionSpec>

export const WHERE_HELP = `Where the documents are (one of):
  --data <dir>              a stopped server's LevelDB data directory (default ./data)
  --database-url <url>      a postgres:// database (stop the servers using it first)
  --database-schema <name>  its PostgreSQL schema (default public)
  --server <url>            a running server, through its REST API (http://host:port)
  --token <jwt>             with --server when authentication is on (default: $QUIRE_TOKEN)`

export const EXIT_HELP = `Exit status: 0 done, 1 failed or partly done (the reason is on stderr),
2 refused before anything was written (bad arguments, a store or server that cannot be used).`

export type Values = Record<string, string | boolean | string[] | undefined>

export interface CommandContext {
  values: Values
  positionals: string[]
  /** Opens the store or server the options name. `source`: it must exist already. */
  open(role: 'source' | 'target'): Promise<Backend>
  /** For the progress of the command (rate-limit waits are noted here). */
  note(line: string): void
}

export interface OpsCommand {
  name: string
  /** For `quire --help`: how to call it, and what it does in a few words. */
  synopsis: string
  summary: string
  /** The full `quire <name> --help`. */
  usage: string
  options: Record<string, OptionSpec>
  positionals: { min: number; max: number }
  run(context: CommandContext): Promise<number>
}

/** Refused before anything was written (exit status 2): a bad argument, a file that cannot be used. */
export class Refused extends StoreRefusal {
  override name = 'Refused'
}

/** A clean failure with exit status 1 and this reason, e.g. an unknown document. */
export class CommandFailure extends Error {
  override name = 'CommandFailure'
}

/** Runs an operator command and resolves with its exit status; never calls process.exit itself. */
export async function runCommand(command: OpsCommand, argv: string[]): Promise<number> {
  const refuse = (message: string) => {
    process.stderr.write(`quire: ${message}\n`)
    return 2
  }
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: { ...WHERE_OPTIONS, ...command.options }, allowPositionals: true, strict: true })
  } catch (error) {
    return refuse(`${(error as Error).message} (see quire ${command.name} --help)`)
  }
  const values = parsed.values as Values
  if (values.help) {
    process.stdout.write(command.usage + '\n')
    return 0
  }
  const { positionals } = parsed
  const { min, max } = command.positionals
  if (positionals.length < min || positionals.length > max) {
    const expected = command.synopsis.replace(/^quire /, '')
    return refuse(`${positionals.length < min ? 'missing arguments' : `unexpected argument ${JSON.stringify(positionals[max])}`}: quire ${expected} (see quire ${command.name} --help)`)
  }
  const backends: Backend[] = []
  const context: CommandContext = {
    values,
    positionals,
    note: (line) => process.stderr.write(line + '\n'),
    async open(role) {
      const backend = await openBackend(values, role, (seconds) => context.note(`rate limited by the server: waiting ${seconds} s`))
      backends.push(backend)
      return backend
    },
  }
  try {
    return await command.run(context)
  } catch (error) {
    if (error instanceof StoreRefusal) return refuse(error.message)
    process.stderr.write(`quire: ${error instanceof CommandFailure ? '' : `${command.name} failed: `}${(error as Error).message}\n`)
    return 1
  } finally {
    await Promise.allSettled(backends.map((backend) => backend.close()))
  }
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i

/** The place the options name, checked; throws StoreRefusal with the reason. */
export function locationOf(values: Values): { server: string } | StoreLocation {
  const data = values.data as string | undefined
  const url = values['database-url'] as string | undefined
  const schema = values['database-schema'] as string | undefined
  const server = values.server as string | undefined
  if ([data, url, server].filter((v) => v !== undefined).length > 1) throw new StoreRefusal('give only one of --data, --database-url and --server')
  if (schema !== undefined && url === undefined) throw new StoreRefusal('--database-schema applies only with --database-url')
  if (values.token !== undefined && server === undefined) throw new StoreRefusal('--token applies only with --server')
  if (server !== undefined) return { server }
  if (url !== undefined) {
    if (!POSTGRES_URL.test(url)) throw new StoreRefusal('--database-url must be a postgres:// URL')
    if (schema !== undefined && schema.trim() === '') throw new StoreRefusal('--database-schema must not be empty')
    return parseLocation(url, schema, '--database-url')
  }
  return parseLocation(data ?? './data', undefined, '--data')
}

export async function openBackend(values: Values, role: 'source' | 'target', onWait?: (seconds: number) => void): Promise<Backend> {
  const location = locationOf(values)
  if ('server' in location) {
    const token = (values.token as string | undefined) ?? (process.env.QUIRE_TOKEN || undefined)
    return ServerBackend.open(location.server, token, onWait)
  }
  try {
    return new StoreBackend(await openStore(location, role), describeLocation(location))
  } catch (error) {
    // The one way to reach a directory a server holds open is through that server.
    if (error instanceof StoreRefusal && error.cause instanceof DataDirInUseError) {
      throw new StoreRefusal(`${error.message}, or reach it through the server with --server http://host:port`)
    }
    throw error
  }
}

/** Checks a document name given on the command line as the server checks room names. */
export function documentArgument(name: string): string {
  try {
    validateDocumentName(name)
  } catch (error) {
    throw new Refused(`invalid document name ${JSON.stringify(name)}: ${(error as Error).message}`)
  }
  return name
}

/** Writes to stdout and resolves once it is handed to the OS, so an exit right after loses nothing. */
export function writeStdout(data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(data, (error) => (error ? reject(error) : resolve())))
}
