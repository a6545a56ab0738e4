/**
 * Exact reads from a stream of chunks (a file, an HTTP body): "the next n bytes", "the next
 * line", "is this the end". The backup reader needs this because records cross chunk boundaries
 * and a short read must be told apart from a clean end.
 */

export class ByteReader {
  private readonly chunks: Buffer[] = []
  private buffered = 0
  private ended = false
  private readonly source: AsyncIterator<Uint8Array>
  /** Bytes consumed so far, for messages ("at byte 1234"). */
  position = 0

  constructor(source: AsyncIterable<Uint8Array>) {
    this.source = source[Symbol.asyncIterator]()
  }

  /** Exactly `n` bytes, or null if the stream ends first (then everything left is consumed). */
  async take(n: number): Promise<Buffer | null> {
    if (!(await this.fill(n))) {
      this.drop(this.buffered)
      return null
    }
    const first = this.chunks[0]
    let bytes: Buffer
    if (first && first.byteLength >= n) {
      bytes = first.subarray(0, n)
    } else {
      bytes = Buffer.allocUnsafe(n)
      let at = 0
      for (const chunk of this.chunks) {
        if (at >= n) break
        at += chunk.copy(bytes, at, 0, Math.min(chunk.byteLength, n - at))
      }
    }
    this.drop(n)
    return bytes
  }

  /** The bytes up to the next `\n` (not included), or null if none comes within `max` bytes or before the end. */
  async line(max: number): Promise<Buffer | null> {
    for (;;) {
      const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)
      const end = joined.subarray(0, max + 1).indexOf(0x0a)
      if (end >= 0) {
        const line = await this.take(end + 1)
        return line!.subarray(0, end)
      }
      if (this.buffered > max || !(await this.fill(this.buffered + 1))) return null
    }
  }

  /** True once nothing is left. */
  async atEnd(): Promise<boolean> {
    return !(await this.fill(1))
  }

  /** Stops reading the source (closes a file, aborts a body). */
  async close(): Promise<void> {
    await this.source.return?.()
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.ended) {
      const next = await this.source.next()
      if (next.done) {
        this.ended = true
        break
      }
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength)
      if (chunk.byteLength === 0) continue
      this.chunks.push(chunk)
      this.buffered += chunk.byteLength
    }
    return this.buffered >= n
  }

  private drop(n: number): void {
    this.position += n
    this.buffered -= n
    while (n > 0) {
      const first = this.chunks[0]!
      if (first.byteLength <= n) {
        n -= first.byteLength
        this.chunks.shift()
      } else {
        this.chunks[0] = first.subarray(n)
        n = 0
      }
    }
  }
}
