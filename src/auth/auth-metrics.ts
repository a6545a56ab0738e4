/** Auth counters, registered on the server's own prom-client registry next to QuireMetrics'. */
import { Counter, type Registry } from '../metrics/prom.js'

export interface AuthMetrics {
  /** A connection or request refused, by close code / status (4401, 4403, 401, 403). */
  rejected(code: number): void
  /** One update or SyncStep2 from a read-only connection dropped unapplied. */
  readonlyWriteDropped(): void
}

export const noAuthMetrics: AuthMetrics = { rejected() {}, readonlyWriteDropped() {} }

export function authMetrics(registry: Registry): AuthMetrics {
  const registers = [registry]
  const rejections = new Counter({ name: 'quire_auth_rejections_total', help: 'WebSocket connections (4401, 4403) and REST requests (401, 403) refused by authentication', labelNames: ['code'], registers })
  const dropped = new Counter({ name: 'quire_readonly_writes_dropped_total', help: 'Updates and SyncStep2 content from read-only connections, dropped unapplied', registers })
  return {
    rejected: (code) => rejections.inc({ code: String(code) }),
    readonlyWriteDropped: () => dropped.inc(),
  }
}
