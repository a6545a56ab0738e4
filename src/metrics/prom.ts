/**
 * The parts of prom-client a server needs at start-up, loaded from its own files: the package's
 * index also loads the default metrics (with @opentelemetry/api), the push gateway, the summary
 * and the cluster aggregator: ~15 ms at start-up (measured). The default metrics are
 * loaded with the first scrape (metrics.ts). The classes are the ones the index exports (the
 * same files), so metrics made here and through `import … from 'prom-client'` mix freely.
 */
import { createRequire } from 'node:module'
import type * as PromClient from 'prom-client'

const require = createRequire(import.meta.url)

export const Registry = require('prom-client/lib/registry') as typeof PromClient.Registry
export type Registry = PromClient.Registry
export const Counter = require('prom-client/lib/counter') as typeof PromClient.Counter
export type Counter<T extends string = string> = PromClient.Counter<T>
export const Gauge = require('prom-client/lib/gauge') as typeof PromClient.Gauge
export type Gauge<T extends string = string> = PromClient.Gauge<T>
export const Histogram = require('prom-client/lib/histogram') as typeof PromClient.Histogram
export type Histogram<T extends string = string> = PromClient.Histogram<T>

/** prom-client's `collectDefaultMetrics`, loaded on first use. */
export function collectDefaultMetrics(config: PromClient.DefaultMetricsCollectorConfiguration<PromClient.RegistryContentType>): void {
  ;(require('prom-client/lib/defaultMetrics') as typeof PromClient.collectDefaultMetrics)(config)
}
