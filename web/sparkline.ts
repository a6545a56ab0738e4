/**
 * A small SVG line chart over a fixed time window, for the dashboard: a few hundred points need
 * no chart library. Time runs left to right over the window; each series is scaled to the
 * largest value shown (at least `floor`), and a pause in the samples (nobody had a dashboard
 * open, or the feed dropped) is drawn as a gap rather than a straight line across it.
 */
const SVG = 'http://www.w3.org/2000/svg'
const WIDTH = 300
const HEIGHT = 64
/** Samples further apart than this many typical intervals are drawn as a gap. */
const GAP_FACTOR = 3

export interface Series {
  values: ReadonlyArray<{ at: number; value: number }>
  /** CSS class of the line: its colour comes from the stylesheet. */
  className: string
}

export interface SparklineOptions {
  /** Window end (epoch ms) and length (ms). */
  end: number
  windowMs: number
  /** The y axis reaches at least this, so a quiet server draws a flat line at the bottom, not noise blown up. */
  floor: number
}

/** An empty chart to fill with `drawSparkline`. */
export function sparklineSvg(label: string): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg')
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`)
  svg.setAttribute('preserveAspectRatio', 'none')
  svg.setAttribute('role', 'img')
  svg.setAttribute('aria-label', label)
  svg.classList.add('sparkline')
  return svg
}

/** Redraws `svg` with `series`; returns the y-axis maximum it used. `data-points` counts the points drawn. */
export function drawSparkline(svg: SVGSVGElement, series: readonly Series[], options: SparklineOptions): number {
  const { end, windowMs } = options
  const start = end - windowMs
  const shown = series.map((s) => ({ ...s, values: s.values.filter((p) => p.at >= start && p.at <= end) }))
  const max = Math.max(options.floor, ...shown.flatMap((s) => s.values.map((p) => p.value)))
  const x = (at: number) => (((at - start) / windowMs) * WIDTH).toFixed(1)
  // A little headroom so the top of a peak is not cut by the stroke.
  const y = (value: number) => (HEIGHT - 2 - (value / max) * (HEIGHT - 6)).toFixed(1)
  const paths: SVGElement[] = []
  let points = 0
  for (const s of shown) {
    if (s.values.length === 0) continue
    const gap = GAP_FACTOR * typicalInterval(s.values)
    let d = ''
    let previous: number | undefined
    for (const p of s.values) {
      d += `${previous === undefined || p.at - previous > gap ? 'M' : 'L'}${x(p.at)} ${y(p.value)} `
      previous = p.at
    }
    // A lone point (the first sample, or one after a gap) would draw nothing: give it a dot's width.
    if (s.values.length === 1) d += `h1.5`
    const path = document.createElementNS(SVG, 'path')
    path.setAttribute('d', d.trim())
    path.setAttribute('class', `line ${s.className}`)
    path.setAttribute('vector-effect', 'non-scaling-stroke')
    paths.push(path)
    points += s.values.length
  }
  svg.replaceChildren(...paths)
  svg.dataset.points = String(points)
  return max
}

/** The median distance between samples: the feed's interval, whatever it is set to. */
function typicalInterval(values: ReadonlyArray<{ at: number }>): number {
  const steps: number[] = []
  for (let i = 1; i < values.length; i++) steps.push(values[i]!.at - values[i - 1]!.at)
  if (steps.length === 0) return 1000
  steps.sort((a, b) => a - b)
  return Math.max(steps[Math.floor(steps.length / 2)]!, 250)
}
