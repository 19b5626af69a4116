import { bucketDelta, histogramQuantile, type Bucket } from './histogram.ts';
import type { HistoryView } from './model.ts';
import { countersOf, latencyBucketsOf, ownedLag, type Observation } from './observation.ts';

/**
 * The status page's memory: rates and end-to-end P95 over time, derived from successive
 * observations (no clock of its own: each observation brings its time).
 *
 * A rate is the counter's delta over the time between two polls (a counter that went down was
 * reset by a restart: the new value is the delta). A P95 point covers the last `p95WindowMs`: the
 * delta of the latency buckets between this poll and the newest poll at least that old (or the
 * oldest one kept, while the history is younger than the window).
 */
export interface HistoryPoint {
  readonly t: number;
  /** Per-second rate by counter key (see counterKey); null when the previous poll lacked the counter. */
  readonly rates: ReadonlyMap<string, number | null>;
  readonly p95Ms: ReadonlyMap<string, number | null>;
  readonly lag: ReadonlyMap<string, number>;
}

interface RawPoint {
  readonly at: number;
  readonly counters: ReadonlyMap<string, number>;
  readonly buckets: ReadonlyMap<string, Bucket[]>;
}

export interface HistoryOptions {
  /** Points kept for the charts. */
  readonly maxPoints: number;
  readonly p95WindowMs: number;
}

export class StatusHistory {
  private readonly raw: RawPoint[] = [];
  private readonly points: HistoryPoint[] = [];

  constructor(private readonly options: HistoryOptions) {}

  record(observation: Observation): HistoryPoint {
    const current: RawPoint = { at: observation.at, counters: countersOf(observation), buckets: latencyBucketsOf(observation) };
    const previous = this.raw[this.raw.length - 1];
    const rates = new Map<string, number | null>();
    for (const [key, value] of current.counters) rates.set(key, previous ? perSecond(value, previous.counters.get(key), current.at - previous.at) : null);

    const baseline = this.baselineFor(current.at);
    const p95Ms = new Map<string, number | null>();
    for (const [pipeline, buckets] of current.buckets) {
      const before = baseline?.buckets.get(pipeline);
      const seconds = before ? histogramQuantile(0.95, bucketDelta(buckets, before)) : null;
      p95Ms.set(pipeline, seconds === null ? null : seconds * 1000);
    }
    const lag = new Map(observation.runners.map((runner) => [runner.pipeline, ownedLag(observation, runner).reduce((sum, entry) => sum + entry.lag, 0)]));

    this.raw.push(current);
    this.trimRaw(current.at);
    const point: HistoryPoint = { t: current.at, rates, p95Ms, lag };
    this.points.push(point);
    if (this.points.length > this.options.maxPoints) this.points.splice(0, this.points.length - this.options.maxPoints);
    return point;
  }

  latest(): HistoryPoint | undefined {
    return this.points[this.points.length - 1];
  }

  /** Column-wise series for the charts. `throughputSeries` names each line and picks its counter keys. */
  view(throughputSeries: ReadonlyMap<string, readonly string[]>): HistoryView {
    const column = <T>(pick: (point: HistoryPoint) => T): T[] => this.points.map(pick);
    const throughput: Record<string, (number | null)[]> = {};
    for (const [label, keys] of throughputSeries) throughput[label] = column((point) => sumRates(point, keys));
    const p95Ms: Record<string, (number | null)[]> = {};
    const lag: Record<string, (number | null)[]> = {};
    for (const pipeline of new Set(this.points.flatMap((point) => [...point.p95Ms.keys()]))) {
      p95Ms[pipeline] = column((point) => point.p95Ms.get(pipeline) ?? null);
      lag[pipeline] = column((point) => point.lag.get(pipeline) ?? null);
    }
    return { t: column((point) => point.t), throughput, p95Ms, lag };
  }

  /** The newest earlier poll at least one window old, else the oldest earlier poll. */
  private baselineFor(at: number): RawPoint | undefined {
    let baseline = this.raw[0];
    for (const point of this.raw) if (point.at <= at - this.options.p95WindowMs) baseline = point;
    return baseline;
  }

  /** Keeps the polls a later P95 can still need: those inside the window and the newest one before it. */
  private trimRaw(now: number): void {
    let firstNeeded = 0;
    for (let index = 0; index < this.raw.length; index++) if (this.raw[index]!.at <= now - this.options.p95WindowMs) firstNeeded = index;
    if (firstNeeded > 0) this.raw.splice(0, firstNeeded);
  }
}

function perSecond(value: number, before: number | undefined, elapsedMs: number): number | null {
  if (before === undefined || elapsedMs <= 0) return null;
  const delta = value >= before ? value - before : value;
  return delta / (elapsedMs / 1000);
}

/** Sum of the rates of `keys` present in the point; null when none of them has a rate. */
export function sumRates(point: HistoryPoint, keys: readonly string[]): number | null {
  let total: number | null = null;
  for (const key of keys) {
    const rate = point.rates.get(key);
    if (rate !== undefined && rate !== null) total = (total ?? 0) + rate;
  }
  return total;
}
