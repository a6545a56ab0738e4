/**
 * Per-document size quota from a running estimate, never a full encode per update: the bytes
 * loaded from storage plus every update applied since, reset to the exact encoded size whenever
 * the room encodes its full state for compaction. Updates overlap (an overwritten map value still
 * counts), so the estimate errs high, which is the safe side for a quota.
 */
import { LimitError } from './limits.js'

export class DocSizeQuota {
  private bytes: number

  constructor(
    private readonly max: number,
    loaded: Uint8Array[],
  ) {
    this.bytes = loaded.reduce((sum, update) => sum + update.byteLength, 0)
  }

  get estimate(): number {
    return this.bytes
  }

  /** Throws LimitError (4413) if an update of `size` bytes would push the document past the quota. */
  check(size: number): void {
    if (this.max > 0 && this.bytes + size > this.max) {
      throw new LimitError('document-size', 'QUIRE_DOCUMENT_TOO_LARGE', `document would exceed ${this.max} bytes`)
    }
  }

  added(size: number): void {
    this.bytes += size
  }

  encoded(size: number): void {
    this.bytes = size
  }
}
