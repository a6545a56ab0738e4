/**
 * The dashboard's charts: the last five minutes of connections, updates per second, bytes in
 * and out per second and event-loop delay. The server keeps the samples (http/admin-history.ts)
 * and sends them when a stream opens, so a reload keeps the curve; here they are kept in step
 * with every snapshot that follows.
 */
import { element, formatBytes } from './common.js'
import { drawSparkline, sparklineSvg, type Series } from './sparkline.js'

/** Mirrors Sample in src/http/admin-history.ts. */
export interface Sample {
  at: number
  connections: number
  updatesPerSecond: number
  bytesInPerSecond: number
  bytesOutPerSecond: number
  loopDelayMs: number
}

export const WINDOW_MS = 5 * 60_000

interface ChartSpec {
  key: string
  label: string
  lines: Array<{ field: keyof Omit<Sample, 'at'>; className: string; name: string }>
  format: (value: number) => string
  floor: number
}

const perSecond = (value: number) => (value >= 10 ? Math.round(value).toString() : value.toFixed(1))
const bytesPerSecond = (value: number) => `${formatBytes(Math.round(value))}/s`

const CHARTS: ChartSpec[] = [
  { key: 'connections', label: 'Connections', lines: [{ field: 'connections', className: 'a', name: 'now' }], format: (v) => String(v), floor: 2 },
  { key: 'updates', label: 'Updates / s', lines: [{ field: 'updatesPerSecond', className: 'a', name: 'now' }], format: perSecond, floor: 1 },
  {
    key: 'bytes',
    label: 'Bytes / s',
    lines: [
      { field: 'bytesInPerSecond', className: 'a', name: 'in' },
      { field: 'bytesOutPerSecond', className: 'b', name: 'out' },
    ],
    format: bytesPerSecond,
    floor: 1024,
  },
  { key: 'loop', label: 'Event-loop delay', lines: [{ field: 'loopDelayMs', className: 'a', name: 'p99' }], format: (v) => `${v.toFixed(1)} ms`, floor: 5 },
]

export class Charts {
  private samples: Sample[] = []
  private readonly charts = CHARTS.map((spec) => {
    const svg = sparklineSvg(`${spec.label}, last 5 minutes`)
    const values = element('span', { class: 'chart-values', 'data-chart-value': '' })
    const peak = element('span', { class: 'chart-peak' })
    const figure = element('figure', { class: 'chart', 'data-chart': spec.key },
      element('figcaption', {}, element('span', { class: 'chart-label' }, spec.label), values),
      svg,
      element('div', { class: 'chart-axis' }, element('span', {}, '5 min ago'), peak, element('span', {}, 'now')),
    )
    return { spec, svg, values, peak, figure }
  })

  constructor(container: HTMLElement) {
    container.replaceChildren(...this.charts.map((chart) => chart.figure))
  }

  /** A stream opened (or re-opened): start from the server's history. */
  reset(history: readonly Sample[]): void {
    this.samples = [...history]
  }

  add(sample: Sample): void {
    const last = this.samples.at(-1)
    if (!last || sample.at > last.at) this.samples.push(sample)
    const cutoff = sample.at - WINDOW_MS
    while (this.samples.length > 0 && this.samples[0]!.at < cutoff) this.samples.shift()
  }

  render(now: number): void {
    const latest = this.samples.at(-1)
    for (const { spec, svg, values, peak } of this.charts) {
      const series: Series[] = spec.lines.map((line) => ({
        className: line.className,
        values: this.samples.map((s) => ({ at: s.at, value: s[line.field] })),
      }))
      const max = drawSparkline(svg, series, { end: now, windowMs: WINDOW_MS, floor: spec.floor })
      values.replaceChildren(...spec.lines.map((line) =>
        element('span', { class: `chart-value ${line.className}`, title: line.name }, latest ? spec.format(latest[line.field]) : '–')))
      peak.textContent = `scale 0–${spec.format(max)}`
    }
  }
}
