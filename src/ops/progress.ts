/**
 * Progress of a long run on stderr. On a terminal, one line redrawn at most 4 times a second;
 * elsewhere (a log file, a pipe), one line per step, so the log says what happened to each
 * document. Notes (conflicts, waits) always get a line of their own.
 */

export class Progress {
  private lastDraw = 0
  private drawn = false

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  /** One step done; `last` forces the draw on a terminal. */
  step(line: string, last = false): void {
    if (!this.stream.isTTY) {
      this.stream.write(line + '\n')
      return
    }
    const now = Date.now()
    if (now - this.lastDraw < 250 && !last) return
    this.lastDraw = now
    const width = Math.max(20, (this.stream.columns || 80) - 1)
    this.stream.write(`\r\x1b[K${[...line].slice(0, width).join('')}`)
    this.drawn = true
  }

  note(line: string): void {
    this.clear()
    this.stream.write(line + '\n')
  }

  /** Clears the redrawn line, so what follows starts on a clean one. */
  finish(): void {
    this.clear()
  }

  private clear(): void {
    if (!this.drawn) return
    this.stream.write('\r\x1b[K')
    this.drawn = false
  }
}

/** Document names as they are, unless they hold control characters that would garble the terminal. */
export const shown = (name: string): string =>
  [...name].some((c) => c.charCodeAt(0) < 0x20 || c === '\u007f') ? JSON.stringify(name) : name

export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`
