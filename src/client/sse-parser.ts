/**
 * A Server-Sent Events parser (the WHATWG "event stream interpretation"), fed decoded text in
 * chunks of any size: lines end with CRLF, LF or CR, a blank line dispatches, `:` starts a
 * comment, and `id:` sets the last event id even on events without data. Linear in the input,
 * so a multi-megabyte `data:` line split over many chunks costs no rescanning.
 */

export interface SseMessage {
  /** `event:`, or `message` when absent. */
  event: string
  /** The `data:` lines joined with `\n`. */
  data: string
  /** The last event id after this event (the stream's, not only this event's). */
  lastEventId: string
}

export class SseParser {
  /** The last `id:` seen, as EventSource keeps it for reconnecting. */
  lastEventId = ''
  /** The last `retry:` in ms, if the server sent one. */
  retry: number | undefined
  private readonly partial: string[] = []
  private afterCR = false
  private data: string[] = []
  private eventType = ''
  private idBuffer = ''

  constructor(private readonly onMessage: (message: SseMessage) => void) {}

  /** A chunk of the stream, decoded (TextDecoder with `stream: true`). */
  push(text: string): void {
    let start = 0
    // A CR ended the previous chunk: an LF right after it belongs to the same line end.
    if (this.afterCR && text.startsWith('\n')) start = 1
    this.afterCR = false
    const ends = /\r\n|\r|\n/g
    ends.lastIndex = start
    for (let match = ends.exec(text); match !== null; match = ends.exec(text)) {
      const tail = text.slice(start, match.index)
      const line = this.partial.length > 0 ? this.partial.splice(0).join('') + tail : tail
      start = match.index + match[0].length
      if (match[0] === '\r' && start === text.length) this.afterCR = true
      this.line(line)
    }
    if (start < text.length) this.partial.push(text.slice(start))
  }

  /** Discards a half-received event (the stream ended or is being replaced). */
  reset(): void {
    this.partial.length = 0
    this.afterCR = false
    this.data = []
    this.eventType = ''
    this.idBuffer = this.lastEventId
  }

  private line(line: string): void {
    if (line === '') return this.dispatch()
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    switch (field) {
      case 'event':
        this.eventType = value
        break
      case 'data':
        this.data.push(value)
        break
      case 'id':
        if (!value.includes('\0')) this.idBuffer = value
        break
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value)
        break
    }
  }

  private dispatch(): void {
    this.lastEventId = this.idBuffer
    const data = this.data
    const event = this.eventType || 'message'
    this.data = []
    this.eventType = ''
    if (data.length === 0) return
    this.onMessage({ event, data: data.join('\n'), lastEventId: this.lastEventId })
  }
}
