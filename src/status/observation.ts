import { bucketsOf, type Bucket } from './histogram.ts';
import { sumOf, type Sample } from './samples.ts';

/**
 * One poll of everything the status page shows, gathered by the collector at time `at`: the
 * aggregator's own metrics, each bridge's scraped metrics (or why they could not be read), the
 * pipelines' runner states and, when Kafka answered, the members of each pipeline's consumer group.
 */
export interface Observation {
  readonly at: number;
  readonly aggregator: readonly Sample[];
  readonly bridges: readonly BridgeScrape[];
  readonly runners: readonly RunnerSnapshot[];
  readonly groups: readonly GroupMembers[] | null;
  readonly groupsError: string | null;
}

export interface BridgeScrape {
  readonly url: string;
  /** null when the bridge did not answer or its text did not parse (see `error`). */
  readonly samples: readonly Sample[] | null;
  readonly error: string | null;
}

export interface RunnerSnapshot {
  readonly pipeline: string;
  readonly tier: string;
  readonly state: string;
  readonly partitions: readonly number[];
  readonly error: string | null;
}

export interface GroupMembers {
  readonly pipeline: string;
  readonly group: string;
  readonly members: readonly { readonly clientId: string; readonly host: string; readonly partitions: readonly number[] }[];
}

export const EDGE_RECEIVED = 'tp_edge_readings_received_total';
export const EDGE_PUBLISHED = 'tp_edge_readings_published_total';
export const EDGE_REJECTED = 'tp_edge_rejected_total';
export const EDGE_DEAD_LETTERS = 'tp_edge_dead_letters_published_total';
export const AGG_READINGS = 'tp_agg_readings_total';
export const AGG_ROWS_INSERTED = 'tp_agg_rows_inserted_total';
export const AGG_E2E = 'tp_agg_e2e_latency_seconds';
export const AGG_LAG = 'tp_agg_consumer_lag';

/** Counter keys: `<stage>|<bridge url or pipeline>`, so that a rate is only taken between two readings of one source. */
export function counterKey(stage: 'received' | 'published' | 'consumed' | 'inserted', source: string): string {
  return `${stage}|${source}`;
}

/** The cumulative counters of one observation, by counter key. */
export function countersOf(observation: Observation): Map<string, number> {
  const counters = new Map<string, number>();
  for (const bridge of observation.bridges) {
    if (!bridge.samples) continue;
    counters.set(counterKey('received', bridge.url), sumOf(bridge.samples, EDGE_RECEIVED));
    counters.set(counterKey('published', bridge.url), sumOf(bridge.samples, EDGE_PUBLISHED));
  }
  for (const runner of observation.runners) {
    const match = { pipeline: runner.pipeline };
    counters.set(counterKey('consumed', runner.pipeline), sumOf(observation.aggregator, AGG_READINGS, match));
    counters.set(counterKey('inserted', runner.pipeline), sumOf(observation.aggregator, AGG_ROWS_INSERTED, match));
  }
  return counters;
}

/** End-to-end latency buckets (cumulative since the process started), by pipeline. */
export function latencyBucketsOf(observation: Observation): Map<string, Bucket[]> {
  return new Map(observation.runners.map((runner) => [runner.pipeline, bucketsOf(observation.aggregator, AGG_E2E, { pipeline: runner.pipeline })]));
}

/** Consumer lag of the partitions a runner owns now (a revoked partition's gauge keeps its last value). */
export function ownedLag(observation: Observation, runner: RunnerSnapshot): { partition: number; lag: number }[] {
  const owned = new Set(runner.partitions);
  const lag: { partition: number; lag: number }[] = [];
  for (const sample of observation.aggregator) {
    if (sample.name !== AGG_LAG || sample.labels['pipeline'] !== runner.pipeline) continue;
    const partition = Number(sample.labels['partition']);
    if (owned.has(partition)) lag.push({ partition, lag: sample.value });
  }
  return lag.sort((a, b) => a.partition - b.partition);
}
