import { nearestRankIndex } from '../core/nearest-rank.ts';

/**
 * Statistics of the advisor. Delay distributions are EXACT: the values are copied into a
 * Float64Array and sorted natively (about a second for ten million), and the q-quantile is the
 * nearest-rank value sorted[ceil(q·n) − 1] — the same rank rule as the core's delay histogram.
 * Latencies of the replay are many per configuration, so they are counted per millisecond
 * (LatencyHistogram), which answers the same nearest-rank quantiles without keeping each value.
 */
export const QUANTILES = [0.5, 0.9, 0.95, 0.99, 0.999] as const;

export interface DistributionSummary {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** Nearest-rank quantile of an ascending array; NaN when empty. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil(q * n)));
  return sorted[rank - 1]!;
}

/** Sorts a copy (or `values` itself when `inPlace`) and summarises it. */
export function summarize(values: Float64Array, inPlace = false): DistributionSummary {
  const sorted = inPlace ? values.sort() : Float64Array.from(values).sort();
  return summarizeSorted(sorted);
}

export function summarizeSorted(sorted: Float64Array): DistributionSummary {
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return {
    count: n,
    min: n === 0 ? Number.NaN : sorted[0]!,
    mean: n === 0 ? Number.NaN : sum / n,
    p50: quantileSorted(sorted, 0.5),
    p90: quantileSorted(sorted, 0.9),
    p95: quantileSorted(sorted, 0.95),
    p99: quantileSorted(sorted, 0.99),
    p999: quantileSorted(sorted, 0.999),
    max: n === 0 ? Number.NaN : sorted[n - 1]!,
  };
}

/** Drops the empty bins before the first and after the last value. */
export function trimEmpty<T extends { count: number }>(bins: readonly T[]): T[] {
  let first = 0;
  while (first < bins.length && bins[first]!.count === 0) first++;
  let last = bins.length - 1;
  while (last >= first && bins[last]!.count === 0) last--;
  return bins.slice(first, last + 1);
}

/** One bar of a display histogram: values in [from, to). */
export interface HistogramBin {
  readonly from: number;
  readonly to: number;
  readonly count: number;
}

/**
 * A display histogram of delays on a log scale: one bin for negative delays (clock ahead), one
 * for [0, 1 ms), then four bins per power of two up to the maximum. Input must be sorted.
 */
export function logHistogram(sorted: Float64Array): HistogramBin[] {
  const bins: HistogramBin[] = [];
  const n = sorted.length;
  if (n === 0) return bins;
  let i = 0;
  let negative = 0;
  while (i < n && sorted[i]! < 0) {
    negative++;
    i++;
  }
  if (negative > 0) bins.push({ from: sorted[0]!, to: 0, count: negative });
  let from = 0;
  let to = 1;
  let step = 0;
  while (i < n) {
    let count = 0;
    while (i < n && sorted[i]! < to) {
      count++;
      i++;
    }
    bins.push({ from, to, count });
    from = to;
    step++;
    to = Math.ceil(2 ** (step / 4));
    if (to <= from) to = from + 1;
  }
  return bins;
}

/**
 * Counts of non-negative integer latencies (ms), EXACT: one counter per millisecond up to
 * DENSE_LATENCY_MS (grown as values arrive), and the rare values beyond it counted by value. Its
 * quantiles are nearest-rank values of the recorded multiset, so a recommendation's "P95" is the
 * P95 of the readings' latencies, not a bin edge near it. (Recording is one array increment; the
 * counters of a few minutes of latency take a few hundred KiB.)
 */
export const DENSE_LATENCY_MS = 1 << 21;

export class LatencyHistogram {
  private counts = new Float64Array(1 << 14);
  private readonly beyond = new Map<number, number>();
  private total = 0;
  private largest = 0;
  private sum = 0;

  record(latencyMs: number, weight = 1): void {
    const value = latencyMs < 0 ? 0 : Math.floor(latencyMs);
    if (value >= this.counts.length) this.grow(value);
    if (value < DENSE_LATENCY_MS) this.counts[value]! += weight;
    else this.beyond.set(value, (this.beyond.get(value) ?? 0) + weight);
    this.total += weight;
    this.sum += value * weight;
    if (value > this.largest) this.largest = value;
  }

  get count(): number {
    return this.total;
  }

  /** The q-quantile (nearest rank); NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const walk = nearestRankIndex(this.counts, this.counts.length, this.total, q);
    if (walk.index >= 0) return walk.index;
    const rank = walk.rank;
    let seen = walk.seen;
    for (const value of [...this.beyond.keys()].sort((a, b) => a - b)) {
      seen += this.beyond.get(value)!;
      if (seen >= rank) return value;
    }
    return this.largest;
  }

  summary(): LatencySummary {
    return {
      count: this.total,
      mean: this.total === 0 ? Number.NaN : this.sum / this.total,
      p50: this.quantile(0.5),
      p95: this.quantile(0.95),
      p99: this.quantile(0.99),
      max: this.total === 0 ? Number.NaN : this.largest,
    };
  }

  /** Every recorded value, ascending (weights rounded): for tests, which compare multisets. */
  values(): Float64Array {
    const out = new Float64Array(Math.round(this.total));
    let at = 0;
    const fill = (value: number, count: number): void => {
      for (let k = 0; k < Math.round(count); k++) out[at++] = value;
    };
    this.counts.forEach((count, value) => fill(value, count));
    for (const value of [...this.beyond.keys()].sort((a, b) => a - b)) fill(value, this.beyond.get(value)!);
    return out;
  }

  private grow(value: number): void {
    let length = this.counts.length;
    while (length <= value && length < DENSE_LATENCY_MS) length *= 2;
    if (length === this.counts.length) return;
    const counts = new Float64Array(length);
    counts.set(this.counts);
    this.counts = counts;
  }
}

export interface LatencySummary {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

/** The median of a small unsorted list (sorted copy). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return quantileSorted(sorted, 0.5);
}
