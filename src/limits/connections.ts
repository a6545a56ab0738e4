/**
 * Counts open WebSocket connections, in total and per remote address, and refuses one past
 * either limit. Behind a reverse proxy every client has the proxy's address, so the per-IP
 * limit is off by default.
 */
import { LimitError } from './limits.js'

export class ConnectionLimiter {
  private total = 0
  private readonly perIp = new Map<string, number>()

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerIp: number,
  ) {}

  /** Counts a new connection from `ip`, or throws LimitError; call the returned release on close. */
  admit(ip: string): () => void {
    if (this.maxTotal > 0 && this.total >= this.maxTotal) {
      throw new LimitError('connections', 'QUIRE_SERVER_FULL', 'server full')
    }
    const fromIp = this.perIp.get(ip) ?? 0
    if (this.maxPerIp > 0 && fromIp >= this.maxPerIp) {
      throw new LimitError('connections-per-ip', 'QUIRE_TOO_MANY_FROM_ADDRESS', 'too many connections from your address')
    }
    this.total++
    this.perIp.set(ip, fromIp + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      this.total--
      const left = (this.perIp.get(ip) ?? 1) - 1
      if (left > 0) this.perIp.set(ip, left)
      else this.perIp.delete(ip)
    }
  }
}
