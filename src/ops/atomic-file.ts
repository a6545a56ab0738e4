/**
 * A file that appears under its name only once it is complete: written as `<name>.partial`,
 * flushed to disk, then renamed. A backup that stopped midway (an error, Ctrl-C, kill -9) never
 * looks like a finished one; at worst a `.partial` file is left behind.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises'

/** Pieces are gathered up to this size and written with one writev. */
const FLUSH_BYTES = 1024 * 1024

export class AtomicFile {
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Bytes written so far. */
  bytes = 0

  private constructor(
    readonly path: string,
    private readonly partial: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(path: string): Promise<AtomicFile> {
    const partial = `${path}.partial`
    return new AtomicFile(path, partial, await open(partial, 'w'))
  }

  async write(pieces: Buffer[]): Promise<void> {
    for (const piece of pieces) {
      this.pending.push(piece)
      this.pendingBytes += piece.byteLength
    }
    if (this.pendingBytes >= FLUSH_BYTES) await this.flush()
  }

  /** Flushes, syncs and renames: from now on `path` holds the whole file. */
  async commit(): Promise<void> {
    await this.flush()
    await this.handle.sync()
    await this.handle.close()
    await rename(this.partial, this.path)
  }

  /** Closes and removes the partial file. */
  async abort(): Promise<void> {
    await this.handle.close().catch(() => {})
    await rm(this.partial, { force: true })
  }

  private async flush(): Promise<void> {
    let pieces = this.pending
    this.pending = []
    this.pendingBytes = 0
    while (pieces.length > 0) {
      // writev may write less than asked; the rest is written again.
      const { bytesWritten } = await this.handle.writev(pieces)
      this.bytes += bytesWritten
      pieces = rest(pieces, bytesWritten)
    }
  }
}

function rest(pieces: Buffer[], written: number): Buffer[] {
  let i = 0
  while (i < pieces.length && written >= pieces[i]!.byteLength) written -= pieces[i++]!.byteLength
  if (i === pieces.length) return []
  return [pieces[i]!.subarray(written), ...pieces.slice(i + 1)]
}
