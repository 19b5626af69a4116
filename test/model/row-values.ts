import { hashId } from '../../src/core/hash.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import { exactMidpoint, exactSum } from './exact.ts';

/**
 * A window's row, computed from scratch from the readings it holds (rows.ts documents each field).
 * Nothing here is incremental: the row is a function of the list, so it cannot drift.
 */
export interface Absorbed {
  readonly id: string;
  readonly value: number;
  readonly eventTime: number;
  readonly ingestTime: number;
}

/** The median comes from the readings with the SAMPLE_SIZE smallest id hashes (exact up to that many). */
export const MEDIAN_SAMPLE = 16;

export interface RowPlace {
  readonly pipeline: string;
  readonly partition: number;
  readonly tenant: string;
  readonly device: string;
  readonly metric: string;
  readonly windowStart: number;
  readonly windowEnd: number;
}

export function rowOf(place: RowPlace, readings: readonly Absorbed[], lateReadings: number): AggregateRow {
  if (readings.length === 0) throw new Error(`model: window ${JSON.stringify(place)} emitted without readings`);
  const values = readings.map((reading) => reading.value);
  // first: earliest event time, ties broken by the smaller value; last: latest, ties by the larger.
  const byTime = [...readings].sort((a, b) => a.eventTime - b.eventTime || a.value - b.value);
  const earliest = byTime[0]!;
  const latest = [...readings].sort((a, b) => b.eventTime - a.eventTime || b.value - a.value)[0]!;
  return {
    pipeline: place.pipeline,
    tenant: place.tenant,
    device: place.device,
    metric: place.metric,
    windowStart: place.windowStart,
    windowEnd: place.windowEnd,
    count: readings.length,
    sum: saturated(exactSum(values)),
    min: Math.min(...values),
    max: Math.max(...values),
    first: earliest.value,
    last: latest.value,
    firstTime: earliest.eventTime,
    lastTime: latest.eventTime,
    p50: sampleMedian(readings),
    lateReadings,
    maxIngestTime: Math.max(...readings.map((reading) => reading.ingestTime)),
    partition: place.partition,
    version: readings.length,
  };
}

/**
 * A row must stay storable (ClickHouse and JSON snapshots have no infinities): an exact sum beyond
 * the largest double reads ±Number.MAX_VALUE, "at least this large" (the rule of aggregate.ts).
 */
function saturated(sum: number): number {
  return Math.max(-Number.MAX_VALUE, Math.min(Number.MAX_VALUE, sum));
}

/**
 * Median of the values of the readings whose ids hash smallest. The sample is chosen by the
 * production's id hash (hash.ts: a small pure function, reused so that the model picks the same
 * readings); the choice and the median are computed here from the whole list.
 */
function sampleMedian(readings: readonly Absorbed[]): number {
  const sample = readings.length <= MEDIAN_SAMPLE ? readings : [...readings].sort((a, b) => hashId(a.id) - hashId(b.id)).slice(0, MEDIAN_SAMPLE);
  const sorted = sample.map((reading) => reading.value).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : exactMidpoint(sorted[mid - 1]!, sorted[mid]!);
}
