import { PipelineError } from './errors.ts';
import { nearestRankIndex } from './nearest-rank.ts';

/**
 * A sliding estimate of arrival delays (ingest time − event time) over the last `horizonMs` of
 * INGEST time: a ring of `bucketCount` time-bucketed log-linear histograms plus their running sum.
 *
 * Bins: 1 ms wide below 128 ms; above, 64 bins per power of two (HdrHistogram style, integer
 * arithmetic only), so every bin is within 1/64 ≈ 1.6 % of its value. Quantiles answer the
 * bin's upper edge, which errs on the side of a longer (safer) delay.
 *
 * Delays below zero (device clock ahead) and above `maxDelayMs` (clock far behind, a gateway
 * backlog) are counted on their own and kept out of the estimate, so that a few skewed devices
 * neither poison nor dominate it.
 */
export interface DelayHistogramOptions {
  readonly horizonMs: number;
  /** Delays above this are outliers (for the adaptive watermark: its ceiling). */
  readonly maxDelayMs: number;
  /** Time buckets in the ring; the estimate forgets in steps of horizonMs / bucketCount. */
  readonly bucketCount?: number;
}

export interface DelayQuantiles {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /** Delays inside the estimate (within the horizon, in [0, maxDelayMs]). */
  readonly samples: number;
  /** Delays within the horizon that were negative (event time ahead of the ingest clock). */
  readonly negative: number;
  /** Delays within the horizon above maxDelayMs. */
  readonly overMax: number;
}

/** JSON form of a histogram: only non-empty buckets, bins as [bin, count, bin, count, ...]. */
export interface DelayHistogramSnapshot {
  readonly head: number | null;
  readonly buckets: ReadonlyArray<readonly [slot: number, negative: number, overMax: number, bins: readonly number[]]>;
}

const LINEAR_LIMIT = 128;
const SUB_BINS = 64;
const SUB_BITS = 6;
const LINEAR_EXPONENT = 7; // 2^7 = LINEAR_LIMIT
export const MAX_TRACKABLE_DELAY_MS = 2 ** 31 - 1;
const DEFAULT_BUCKETS = 10;

export function delayBin(delayMs: number): number {
  if (delayMs < LINEAR_LIMIT) return delayMs;
  const exponent = 31 - Math.clz32(delayMs);
  const sub = (delayMs >>> (exponent - SUB_BITS)) & (SUB_BINS - 1);
  return LINEAR_LIMIT + (exponent - LINEAR_EXPONENT) * SUB_BINS + sub;
}

/** The largest integer delay that falls into `bin`. */
export function delayBinUpperEdge(bin: number): number {
  if (bin < LINEAR_LIMIT) return bin;
  const k = bin - LINEAR_LIMIT;
  const exponent = Math.floor(k / SUB_BINS) + LINEAR_EXPONENT;
  const width = 2 ** (exponent - SUB_BITS);
  return (SUB_BINS + (k % SUB_BINS)) * width + width - 1;
}

export class DelayHistogram {
  readonly horizonMs: number;
  readonly maxDelayMs: number;
  private readonly bucketCount: number;
  private readonly bucketMs: number;
  private readonly binCount: number;
  /** bucketCount × binCount counts, bucket-major. */
  private readonly bins: Uint32Array;
  private readonly total: Float64Array;
  private readonly bucketSamples: Float64Array;
  private readonly bucketNegative: Float64Array;
  private readonly bucketOverMax: Float64Array;
  private samples = 0;
  private negative = 0;
  private overMax = 0;
  /** The newest time slot (floor(ingestTime / bucketMs)), or null before any data. */
  private head: number | null = null;

  constructor(options: DelayHistogramOptions) {
    const bucketCount = options.bucketCount ?? DEFAULT_BUCKETS;
    if (!Number.isInteger(options.maxDelayMs) || options.maxDelayMs < 0 || options.maxDelayMs > MAX_TRACKABLE_DELAY_MS) {
      throw new PipelineError('CORE_DELAY_RANGE', `maximum tracked delay ${options.maxDelayMs} ms is outside [0, ${MAX_TRACKABLE_DELAY_MS}]`, {
        context: { maxDelayMs: options.maxDelayMs },
      });
    }
    if (!Number.isInteger(bucketCount) || bucketCount < 1 || !(options.horizonMs >= bucketCount)) {
      throw new PipelineError('CORE_DELAY_RANGE', `horizon ${options.horizonMs} ms cannot be split into ${bucketCount} buckets`, {
        context: { horizonMs: options.horizonMs, bucketCount },
      });
    }
    this.horizonMs = options.horizonMs;
    this.maxDelayMs = options.maxDelayMs;
    this.bucketCount = bucketCount;
    this.bucketMs = Math.ceil(options.horizonMs / bucketCount);
    this.binCount = delayBin(options.maxDelayMs) + 1;
    this.bins = new Uint32Array(bucketCount * this.binCount);
    this.total = new Float64Array(this.binCount);
    this.bucketSamples = new Float64Array(bucketCount);
    this.bucketNegative = new Float64Array(bucketCount);
    this.bucketOverMax = new Float64Array(bucketCount);
  }

  /** Ingest time advances (a reading or a tick): buckets older than the horizon are forgotten. */
  advance(ingestTime: number): void {
    const slot = Math.floor(ingestTime / this.bucketMs);
    const head = this.head;
    if (head === null) {
      this.head = slot;
      return;
    }
    if (slot <= head) return;
    const steps = Math.min(slot - head, this.bucketCount);
    for (let step = 1; step <= steps; step++) this.clearBucket(this.ringIndex(head + step));
    this.head = slot;
  }

  record(delayMs: number, ingestTime: number): void {
    this.advance(ingestTime);
    const head = this.head!;
    // An ingest time older than the ring (bridges' clocks differ a little) counts in the oldest bucket.
    const slot = Math.max(Math.floor(ingestTime / this.bucketMs), head - this.bucketCount + 1);
    const bucket = this.ringIndex(slot);
    if (delayMs < 0) {
      this.bucketNegative[bucket]!++;
      this.negative++;
      return;
    }
    if (delayMs > this.maxDelayMs) {
      this.bucketOverMax[bucket]!++;
      this.overMax++;
      return;
    }
    const bin = delayBin(Math.floor(delayMs));
    this.bins[bucket * this.binCount + bin]!++;
    this.total[bin]!++;
    this.bucketSamples[bucket]!++;
    this.samples++;
  }

  sampleCount(): number {
    return this.samples;
  }

  /** The q-quantile of the delays in the estimate (bin upper edge), or NaN when it is empty. */
  quantile(q: number): number {
    if (this.samples === 0) return Number.NaN;
    const bin = nearestRankIndex(this.total, this.binCount, this.samples, q).index;
    return bin < 0 ? this.maxDelayMs : Math.min(delayBinUpperEdge(bin), this.maxDelayMs);
  }

  quantiles(): DelayQuantiles {
    return {
      p50: this.quantile(0.5),
      p95: this.quantile(0.95),
      p99: this.quantile(0.99),
      samples: this.samples,
      negative: this.negative,
      overMax: this.overMax,
    };
  }

  snapshot(): DelayHistogramSnapshot {
    const buckets: Array<readonly [number, number, number, number[]]> = [];
    if (this.head !== null) {
      for (let slot = this.head - this.bucketCount + 1; slot <= this.head; slot++) {
        const bucket = this.ringIndex(slot);
        const negative = this.bucketNegative[bucket]!;
        const overMax = this.bucketOverMax[bucket]!;
        if (this.bucketSamples[bucket] === 0 && negative === 0 && overMax === 0) continue;
        const bins: number[] = [];
        const base = bucket * this.binCount;
        for (let bin = 0; bin < this.binCount; bin++) {
          const count = this.bins[base + bin]!;
          if (count !== 0) bins.push(bin, count);
        }
        buckets.push([slot, negative, overMax, bins]);
      }
    }
    return { head: this.head, buckets };
  }

  static restore(options: DelayHistogramOptions, snapshot: DelayHistogramSnapshot): DelayHistogram {
    const histogram = new DelayHistogram(options);
    histogram.head = snapshot.head;
    for (const [slot, negative, overMax, bins] of snapshot.buckets) {
      const bucket = histogram.ringIndex(slot);
      histogram.bucketNegative[bucket] = negative;
      histogram.bucketOverMax[bucket] = overMax;
      histogram.negative += negative;
      histogram.overMax += overMax;
      for (let i = 0; i + 1 < bins.length; i += 2) {
        const bin = bins[i]!;
        const count = bins[i + 1]!;
        if (bin >= histogram.binCount) continue;
        histogram.bins[bucket * histogram.binCount + bin] = count;
        histogram.total[bin]! += count;
        histogram.bucketSamples[bucket]! += count;
        histogram.samples += count;
      }
    }
    return histogram;
  }

  private ringIndex(slot: number): number {
    const index = slot % this.bucketCount;
    return index < 0 ? index + this.bucketCount : index;
  }

  private clearBucket(bucket: number): void {
    this.negative -= this.bucketNegative[bucket]!;
    this.overMax -= this.bucketOverMax[bucket]!;
    this.bucketNegative[bucket] = 0;
    this.bucketOverMax[bucket] = 0;
    if (this.bucketSamples[bucket] === 0) return;
    const base = bucket * this.binCount;
    for (let bin = 0; bin < this.binCount; bin++) {
      const count = this.bins[base + bin]!;
      if (count === 0) continue;
      this.total[bin]! -= count;
      this.bins[base + bin] = 0;
    }
    this.samples -= this.bucketSamples[bucket]!;
    this.bucketSamples[bucket] = 0;
  }
}
