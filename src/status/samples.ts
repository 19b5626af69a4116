import type { Registry } from 'prom-client';

/**
 * One value of one series, the common shape of the aggregator's own registry and of a bridge's
 * scraped /metrics text, so that the status page reads both the same way.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export type LabelMatch = Readonly<Record<string, string>>;

/** Flattens prom-client's `registry.getMetricsAsJSON()` (histograms carry their series name per value). */
export type RegistryJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export function samplesFromRegistry(metrics: RegistryJson): Sample[] {
  const samples: Sample[] = [];
  for (const metric of metrics) {
    for (const entry of metric.values) {
      const named = entry as typeof entry & { metricName?: string };
      const labels: Record<string, string> = {};
      for (const [key, value] of Object.entries(entry.labels)) if (value !== undefined) labels[key] = String(value);
      samples.push({ name: named.metricName ?? metric.name, labels, value: entry.value });
    }
  }
  return samples;
}

function matches(sample: Sample, name: string, match: LabelMatch): boolean {
  if (sample.name !== name) return false;
  for (const [key, value] of Object.entries(match)) if (sample.labels[key] !== value) return false;
  return true;
}

export function select(samples: readonly Sample[], name: string, match: LabelMatch = {}): Sample[] {
  return samples.filter((sample) => matches(sample, name, match));
}

/** Sum over every series of `name` that carries the labels of `match`; 0 when there is none. */
export function sumOf(samples: readonly Sample[], name: string, match: LabelMatch = {}): number {
  let total = 0;
  for (const sample of samples) if (matches(sample, name, match) && Number.isFinite(sample.value)) total += sample.value;
  return total;
}

/** Sums of `name` grouped by the value of one label. */
export function sumBy(samples: readonly Sample[], name: string, label: string, match: LabelMatch = {}): Map<string, number> {
  const sums = new Map<string, number>();
  for (const sample of samples) {
    const key = sample.labels[label];
    if (key === undefined || !matches(sample, name, match) || !Number.isFinite(sample.value)) continue;
    sums.set(key, (sums.get(key) ?? 0) + sample.value);
  }
  return sums;
}

export function hasSeries(samples: readonly Sample[], name: string): boolean {
  return samples.some((sample) => sample.name === name);
}
