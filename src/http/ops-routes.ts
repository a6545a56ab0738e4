/**
 * Operations endpoints: `/healthz` (the process answers), `/readyz` (storage open and not
 * shutting down: send traffic here) and `/metrics` (Prometheus text). Their requests are logged
 * only at warn level, so probes and scrapes do not drown the connection logs.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { DocStore } from '../storage/doc-store.js'
import type { QuireMetrics } from '../metrics/metrics.js'

export interface OpsRoutesOptions {
  store: DocStore
  metrics: QuireMetrics
}

export const opsRoutes: FastifyPluginAsync<OpsRoutesOptions> = async (app, { store, metrics }) => {
  let shuttingDown = false
  app.addHook('preClose', async () => {
    shuttingDown = true
  })
  const quiet = { logLevel: 'warn' as const }

  app.get('/healthz', quiet, async () => ({ status: 'ok', uptimeSeconds: Math.round(process.uptime()) }))

  app.get('/readyz', quiet, async (_request, reply) => {
    const storage = store.isOpen?.() ?? true
    const ready = storage && !shuttingDown
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'unavailable',
      storage: storage ? 'open' : 'closed',
      shuttingDown,
    })
  })

  app.get('/metrics', quiet, async (_request, reply) => {
    return reply.type(metrics.contentType).send(await metrics.text())
  })
}
