/**
 * The backup file: every document with its versions, written and read one document at a time.
 * docs/operations.md ("Backup and restore") describes the format for people; this is it in code.
 *
 *   header   one line of JSON ending in "\n": {"format":"quire-backup","version":1,"createdAt":"…"}
 *   records  kind (1 byte: D, V or E), JSON length (uint32 BE), data length (uint32 BE),
 *            the JSON (UTF-8), the data, CRC-32 of everything before it in the record (uint32 BE)
 *     D  {"name","createdAt","updatedAt","seq","versions": n}  data: the content, a Yjs v1 update
 *     V  {"id","label","createdAt"}                            data: the version's state (v1)
 *        (n of them right after their D, ids 1…n)
 *     E  {"documents","versions"}                              data: none; the last bytes of the file
 *
 * Binary rather than JSON lines: contents are binary Yjs updates of up to tens of MiB, which
 * base64 would grow by a third and force into one string each. The lengths let a reader take a
 * record without scanning it; the checksum catches a damaged copy; the E record, with counts,
 * catches a file cut at a record boundary. Documents come in name order (UTF-8 bytes), each once.
 */
import { crc32 } from 'node:zlib'
import { InvalidInputError } from '../content/errors.js'
import { validateDocumentName } from '../protocol/document-name.js'
import { ByteReader } from './byte-reader.js'

export const BACKUP_FORMAT = 'quire-backup'
export const BACKUP_VERSION = 1

export interface BackupVersion {
  id: number
  label: string
  createdAt: number
  /** The version's full state, a Yjs v1 update. */
  state: Uint8Array
}

export interface BackupDocument {
  name: string
  createdAt: number
  updatedAt: number
  seq: number
  /** The content: Y.encodeStateAsUpdate of the document as loaded. */
  content: Uint8Array
  /** Oldest first, ids 1…n. */
  versions: BackupVersion[]
}

export interface BackupCounts {
  documents: number
  versions: number
}

export interface BackupHeader {
  format: string
  version: number
  createdAt?: string
}

/** A backup that cannot be read: not one, damaged, cut short, or from a newer Quire. */
export class BackupFormatError extends InvalidInputError {
  override name = 'BackupFormatError'
}

/** One record larger than the reader accepts (a server's body limit, or a damaged length). */
export class BackupRecordTooLarge extends BackupFormatError {
  override name = 'BackupRecordTooLarge'
}

const KIND_DOCUMENT = 0x44 // D
const KIND_VERSION = 0x56 // V
const KIND_END = 0x45 // E
const HEAD_BYTES = 9
const MAX_HEADER_BYTES = 64 * 1024

// ---------------------------------------------------------------------------------------------
// Writing

export function headerBytes(createdAt = new Date()): Buffer {
  const header: BackupHeader = { format: BACKUP_FORMAT, version: BACKUP_VERSION, createdAt: createdAt.toISOString() }
  return Buffer.from(JSON.stringify(header) + '\n')
}

/** One record as pieces to write in order; the data is not copied. */
function record(kind: number, json: object, data: Uint8Array = new Uint8Array(0)): Buffer[] {
  const text = Buffer.from(JSON.stringify(json))
  const head = Buffer.allocUnsafe(HEAD_BYTES + text.byteLength)
  head.writeUInt8(kind, 0)
  head.writeUInt32BE(text.byteLength, 1)
  head.writeUInt32BE(data.byteLength, 5)
  text.copy(head, HEAD_BYTES)
  const dataBuffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const sum = Buffer.allocUnsafe(4)
  sum.writeUInt32BE(checksum([head, dataBuffer]), 0)
  return [head, dataBuffer, sum]
}

/** The D record of a document and its V records. */
export function documentRecords(doc: BackupDocument): Buffer[] {
  const meta = { name: doc.name, createdAt: doc.createdAt, updatedAt: doc.updatedAt, seq: doc.seq, versions: doc.versions.length }
  return [
    ...record(KIND_DOCUMENT, meta, doc.content),
    ...doc.versions.flatMap((v) => record(KIND_VERSION, { id: v.id, label: v.label, createdAt: v.createdAt }, v.state)),
  ]
}

export function endRecord(counts: BackupCounts): Buffer[] {
  return record(KIND_END, { documents: counts.documents, versions: counts.versions })
}

/**
 * A whole backup as a stream of chunks: header, the documents as `documents` yields them, end
 * record. Pulls the next document only when the consumer asks, so one document is in memory.
 * A small document is one chunk, a large one its pieces uncopied; never an empty chunk, which
 * an HTTP client would send as the end of a chunked body.
 */
export async function* backupStream(documents: AsyncIterable<BackupDocument>): AsyncGenerator<Buffer> {
  const counts: BackupCounts = { documents: 0, versions: 0 }
  yield headerBytes()
  for await (const doc of documents) {
    counts.documents++
    counts.versions += doc.versions.length
    yield* chunks(documentRecords(doc))
  }
  yield* chunks(endRecord(counts))
}

function chunks(pieces: Buffer[]): Buffer[] {
  const nonEmpty = pieces.filter((piece) => piece.byteLength > 0)
  const bytes = nonEmpty.reduce((sum, piece) => sum + piece.byteLength, 0)
  return bytes <= 256 * 1024 ? [Buffer.concat(nonEmpty, bytes)] : nonEmpty
}

// ---------------------------------------------------------------------------------------------
// Reading

interface RawRecord {
  kind: number
  json: Record<string, unknown>
  data: Uint8Array
  at: number
}

export interface BackupReaderOptions {
  /** Largest JSON or data part of one record accepted (default 1 GiB). */
  maxPartBytes?: number
}

/**
 * Reads a backup document by document, checking everything the format promises: header,
 * checksums, order, version ids, the end record and its counts, nothing after it. Any breach
 * throws BackupFormatError, whose message says what and where.
 */
export class BackupReader {
  header: BackupHeader | undefined
  /** Set once the end record was read and checked, and nothing follows it. */
  end: BackupCounts | undefined
  private readonly bytes: ByteReader
  private readonly maxPartBytes: number
  private readonly counts: BackupCounts = { documents: 0, versions: 0 }
  private lastName: Buffer | undefined

  constructor(source: AsyncIterable<Uint8Array>, options: BackupReaderOptions = {}) {
    this.bytes = new ByteReader(source)
    this.maxPartBytes = options.maxPartBytes ?? 1024 * 1024 * 1024
  }

  async *documents(): AsyncGenerator<BackupDocument> {
    try {
      if (!this.header) this.header = await this.readHeader()
      for (;;) {
        const next = await this.record('the next document, or the end record')
        if (next.kind === KIND_END) {
          this.checkEnd(next)
          if (!(await this.bytes.atEnd())) throw this.error(`backup is corrupt: bytes follow its end record at byte ${this.bytes.position}`)
          this.end = { ...this.counts }
          return
        }
        if (next.kind !== KIND_DOCUMENT) throw this.error(`record at byte ${next.at} is a version without its document`)
        yield await this.document(next)
      }
    } finally {
      await this.bytes.close()
    }
  }

  private async readHeader(): Promise<BackupHeader> {
    if (await this.bytes.atEnd()) throw new BackupFormatError('not a Quire backup: it is empty')
    const line = await this.bytes.line(MAX_HEADER_BYTES)
    let header: Partial<BackupHeader> | undefined
    try {
      header = line ? (JSON.parse(line.toString('utf8')) as Partial<BackupHeader>) : undefined
    } catch {}
    if (!header || typeof header !== 'object' || header.format !== BACKUP_FORMAT) {
      throw new BackupFormatError('not a Quire backup: it does not start with a quire-backup header line')
    }
    if (!Number.isInteger(header.version) || header.version! < 1) throw new BackupFormatError('not a Quire backup: its header has no valid format version')
    if (header.version! > BACKUP_VERSION) {
      throw new BackupFormatError(`backup format version ${header.version} is newer than this Quire reads (${BACKUP_VERSION}): restore it with a newer Quire`)
    }
    return header as BackupHeader
  }

  private async document(head: RawRecord): Promise<BackupDocument> {
    const json = head.json
    const name = json.name
    if (typeof name !== 'string') throw this.error(`document record at byte ${head.at} has no name`)
    try {
      validateDocumentName(name)
    } catch (error) {
      throw this.error(`document record at byte ${head.at} has an invalid name (${(error as Error).message})`)
    }
    const nameBytes = Buffer.from(name, 'utf8')
    if (this.lastName && Buffer.compare(this.lastName, nameBytes) >= 0) {
      throw this.error(`document ${JSON.stringify(name)} at byte ${head.at} is out of name order or repeated`)
    }
    this.lastName = nameBytes
    const count = json.versions
    if (!isCount(count) || !isCount(json.seq) || !isCount(json.createdAt) || !isCount(json.updatedAt)) {
      throw this.error(`document record of ${JSON.stringify(name)} at byte ${head.at} has invalid fields`)
    }
    const versions: BackupVersion[] = []
    for (let id = 1; id <= count; id++) {
      const v = await this.record(`version ${id} of ${JSON.stringify(name)}`)
      if (v.kind !== KIND_VERSION) throw this.error(`document ${JSON.stringify(name)} announces ${count} versions but has ${id - 1}`)
      if (v.json.id !== id || typeof v.json.label !== 'string' || !isCount(v.json.createdAt)) {
        throw this.error(`version record at byte ${v.at} (${JSON.stringify(name)}, expected id ${id}) has invalid fields`)
      }
      versions.push({ id, label: v.json.label, createdAt: v.json.createdAt, state: v.data })
    }
    this.counts.documents++
    this.counts.versions += count
    return { name, createdAt: json.createdAt, updatedAt: json.updatedAt, seq: json.seq, content: head.data, versions }
  }

  private checkEnd(end: RawRecord): void {
    const { documents, versions } = end.json
    if (documents !== this.counts.documents || versions !== this.counts.versions) {
      throw this.error(
        `its end record counts ${String(documents)} documents and ${String(versions)} versions, but it holds ${this.counts.documents} and ${this.counts.versions}`,
      )
    }
  }

  /** The next record, checked; `expected` names what should come, for the truncation message. */
  private async record(expected: string): Promise<RawRecord> {
    const at = this.bytes.position
    const head = await this.bytes.take(HEAD_BYTES)
    if (!head) {
      if (this.bytes.position === at) {
        throw this.error(`backup is truncated: it ends at byte ${at}, after ${completeDocuments(this.counts)}, where ${expected} should come`)
      }
      throw this.truncatedInside(at, expected)
    }
    const kind = head.readUInt8(0)
    if (kind !== KIND_DOCUMENT && kind !== KIND_VERSION && kind !== KIND_END) {
      throw this.error(`backup is corrupt: unknown record kind 0x${kind.toString(16)} at byte ${at}`)
    }
    const jsonBytes = head.readUInt32BE(1)
    const dataBytes = head.readUInt32BE(5)
    for (const size of [jsonBytes, dataBytes]) {
      if (size > this.maxPartBytes) {
        throw new BackupRecordTooLarge(`record at byte ${at} holds ${size} bytes, more than the ${this.maxPartBytes} accepted here`)
      }
    }
    const text = await this.bytes.take(jsonBytes)
    // A copy that owns its memory: lib0 decoders can read past the end of a view into a shared buffer.
    const data = text && (await this.bytes.take(dataBytes))
    const dataCopy = data && new Uint8Array(data)
    const sum = dataCopy && (await this.bytes.take(4))
    if (!text || !dataCopy || !sum) throw this.truncatedInside(at, expected)
    if (checksum([head, text, dataCopy]) !== sum.readUInt32BE(0)) {
      throw this.error(`backup is corrupt: the record at byte ${at} (${expected}) fails its checksum`)
    }
    let json: unknown
    try {
      json = JSON.parse(text.toString('utf8'))
    } catch {}
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw this.error(`backup is corrupt: the record at byte ${at} has no valid JSON`)
    return { kind, json: json as Record<string, unknown>, data: dataCopy, at }
  }

  private truncatedInside(at: number, expected: string): BackupFormatError {
    return this.error(`backup is truncated: it ends inside the record at byte ${at} (${expected}), after ${completeDocuments(this.counts)}`)
  }

  private error(message: string): BackupFormatError {
    return new BackupFormatError(message.startsWith('backup is ') ? message : `backup is corrupt: ${message}`)
  }
}

/** CRC-32 of the parts in a row. Empty parts are left out: Node's crc32 answers 0 for an empty view of an empty buffer, whatever the running value. */
function checksum(parts: Uint8Array[]): number {
  let sum = 0
  for (const part of parts) if (part.byteLength > 0) sum = crc32(part, sum)
  return sum >>> 0
}

const completeDocuments = ({ documents }: BackupCounts) => `${documents} complete document${documents === 1 ? '' : 's'}`

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0
