/** Reading /metrics in tests: fetch the Prometheus text and pick single samples out of it. */
import type { TestServer } from './helpers.js'

export async function scrape(server: TestServer): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${server.port}/metrics`)
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`)
  return response.text()
}

/** Value of one sample, e.g. `quire_messages_received_total{type="update"}`; 0 when absent. */
export function sample(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1))
  }
  return 0
}

export async function metric(server: TestServer, series: string): Promise<number> {
  return sample(await scrape(server), series)
}
