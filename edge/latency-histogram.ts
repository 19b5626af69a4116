import type { Metric } from 'prom-client';

/**
 * A Prometheus histogram for the hot path: observe() is a bucket search and three additions.
 * (prom-client's Histogram hashes and validates its labels on every observation, about a
 * microsecond per message here.) Registered on a prom-client registry like any other metric.
 */
export class LatencySeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/**
 * Named Histogram on purpose: tools that list the registry's metrics (deploy/validate) know a
 * histogram by its class name and read its `labelNames`, as with prom-client's own.
 */
export class Histogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: readonly string[];
  private readonly labelName: string;
  private readonly bounds: readonly number[];
  private readonly series = new Map<string, LatencySeries>();

  constructor(options: { name: string; help: string; labelName: string; buckets: readonly number[] }) {
    this.name = options.name;
    this.help = options.help;
    this.labelName = options.labelName;
    this.labelNames = [options.labelName];
    this.bounds = [...options.buckets].sort((a, b) => a - b);
  }

  /** The series of one label value; resolve it once, observe on it in the hot path. */
  labels(value: string): LatencySeries {
    let series = this.series.get(value);
    if (series === undefined) {
      series = new LatencySeries(this.bounds);
      this.series.set(value, series);
    }
    return series;
  }

  /** The shape prom-client's registry reads (cumulative buckets, +Inf, _sum, _count). */
  get(): { name: string; help: string; type: string; aggregator: string; values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> } {
    const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
    for (const [labelValue, series] of this.series) {
      let cumulative = 0;
      this.bounds.forEach((bound, index) => {
        cumulative += series.counts[index]!;
        values.push({ value: cumulative, labels: { le: bound, [this.labelName]: labelValue }, metricName: `${this.name}_bucket` });
      });
      values.push({ value: series.count, labels: { le: '+Inf', [this.labelName]: labelValue }, metricName: `${this.name}_bucket` });
      values.push({ value: series.sum, labels: { [this.labelName]: labelValue }, metricName: `${this.name}_sum` });
      values.push({ value: series.count, labels: { [this.labelName]: labelValue }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const series of this.series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }

  /** For Registry.registerMetric, which is typed for prom-client's own classes. */
  asMetric(): Metric {
    return this as unknown as Metric;
  }
}
