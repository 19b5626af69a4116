import type { LabelMatch, Sample } from './samples.ts';

/**
 * Quantiles from a Prometheus histogram's cumulative buckets, computed as Prometheus'
 * `histogram_quantile` does, so that the status page and a Grafana panel agree: find the bucket
 * holding the rank, interpolate linearly inside it, and answer the highest finite bound when the
 * rank falls in the +Inf bucket.
 */
export interface Bucket {
  /** Upper bound (inclusive); Infinity for the last bucket. */
  readonly le: number;
  /** Cumulative count of observations ≤ le. */
  readonly count: number;
}

/** The cumulative buckets of histogram `name` (without `_bucket`), summed over the series that match. */
export function bucketsOf(samples: readonly Sample[], name: string, match: LabelMatch = {}): Bucket[] {
  const counts = new Map<number, number>();
  const bucketName = `${name}_bucket`;
  for (const sample of samples) {
    if (sample.name !== bucketName) continue;
    if (Object.entries(match).some(([key, value]) => sample.labels[key] !== value)) continue;
    const bound = sample.labels['le'];
    if (bound === undefined) continue;
    const le = bound === '+Inf' ? Number.POSITIVE_INFINITY : Number(bound);
    if (Number.isNaN(le)) continue;
    counts.set(le, (counts.get(le) ?? 0) + sample.value);
  }
  return [...counts].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/**
 * Observations between two readings of the same histogram. When any count went down the process
 * restarted in between (its counters began again at zero), so the later reading is the delta.
 */
export function bucketDelta(later: readonly Bucket[], earlier: readonly Bucket[]): Bucket[] {
  const before = new Map(earlier.map((bucket) => [bucket.le, bucket.count]));
  const reset = later.some((bucket) => bucket.count < (before.get(bucket.le) ?? 0));
  if (reset) return [...later];
  return later.map((bucket) => ({ le: bucket.le, count: bucket.count - (before.get(bucket.le) ?? 0) }));
}

export function observationCount(buckets: readonly Bucket[]): number {
  return buckets.length === 0 ? 0 : buckets[buckets.length - 1]!.count;
}

/** The q-quantile (0 < q < 1) of the observations in `buckets`, or null when there are none. */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  const total = observationCount(buckets);
  if (total <= 0 || buckets.length === 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Number.POSITIVE_INFINITY) return lowerBound;
      const inBucket = bucket.count - lowerCount;
      if (inBucket <= 0) return bucket.le;
      return lowerBound + (bucket.le - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerBound;
}
