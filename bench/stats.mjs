/** Small numeric helpers shared by the scenarios. */

/** Nearest-rank percentile of an ascending-sorted array (p in 0..100). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

/** {count, mean, p50, p90, p99, max, min} of a list of numbers (copied, then sorted). */
export function summarize(values) {
  const sorted = Float64Array.from(values).sort()
  let sum = 0
  for (const v of sorted) sum += v
  return {
    count: sorted.length,
    min: sorted.length ? sorted[0] : NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
  }
}

export const MiB = 1024 * 1024
export const round = (x, digits = 2) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x)
