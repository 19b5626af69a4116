import { ConfigError } from './errors.ts';
import type { ReadingRecord } from './readings.ts';
import type { AggregateRow } from './rows.ts';
import { validateWatermarkSpec, type WatermarkSpec } from './watermarks.ts';
import { validateWindowSpec, type WindowSpec } from './windows.ts';

/**
 * What a PartitionProcessor is built from and what it reports. The spec types mirror a
 * pipeline's configuration structurally (the core does not import the configuration module):
 * `{ pipeline: p.name, partition, window: p.window, watermark: p.watermark, latePolicy:
 * p.latePolicy, idleTimeoutMs: p.idleTimeoutMs }` is a valid ProcessorSpec.
 */
export type LatePolicySpec =
  | { readonly kind: 'drop' }
  | { readonly kind: 'late-topic' }
  | { readonly kind: 'reemit'; readonly allowedLatenessMs: number };

export interface ProcessorSpec {
  readonly pipeline: string;
  readonly partition: number;
  readonly window: WindowSpec;
  readonly watermark: WatermarkSpec;
  readonly latePolicy: LatePolicySpec;
  readonly idleTimeoutMs: number;
  /** Largest device clock offset followed by later window deadlines (device-clock.ts); 0: off; default 5 min. */
  readonly maxDeviceClockOffsetMs?: number;
  /**
   * Which aggregates the windows compute; default 'all' (the aggregator). 'count' is for what-if
   * replays, which need only counts and timings: a row's count, interval, lateReadings and version
   * are computed (into one reused row object), its other aggregates are NaN, and reading ids are neither hashed nor remembered —
   * every reading counts, so the caller's ids must be distinct (a replay's are by construction);
   * earliestNeededOffset() is null (offsets are not kept).
   * Windowing, watermarks, late handling and device clocks are the same code either way.
   */
  readonly aggregates?: AggregatesSpec;
}

export type AggregatesSpec = 'all' | 'count';

/** Where the processor's results go. Called synchronously from `process`; must not throw. */
export interface ProcessorOutput {
  /** Under `aggregates: 'count'` the row object is reused for the next row: read it, do not keep it. */
  emitRow(row: AggregateRow): void;
  /** Late policy 'late-topic': this reading's `metric` missed its window (once per reading and metric). */
  emitLate(reading: ReadingRecord, metric: string, offset: number): void;
}

/** Counters since the processor was created (carried across snapshots). */
export interface ProcessorStats {
  /** Reading records accepted (valid times). */
  readings: number;
  ticks: number;
  /** (reading, metric) values accepted. */
  values: number;
  /** Values whose reading id a window had absorbed already (counted once per value). */
  duplicates: number;
  /** Values that missed a window and were dropped (once per value, even if several windows missed). */
  lateDropped: number;
  /** Values handed to the late topic. */
  lateToTopic: number;
  /** Values absorbed by a retained window after it was emitted. */
  lateAbsorbed: number;
  rowsEmitted: number;
  /** Of rowsEmitted: rows emitted again (or for the first time) because of a late reading. */
  rowsUpdated: number;
  windowsOpened: number;
  /** Readings whose event time lies ahead of their ingest time (device clock ahead). */
  eventTimeAhead: number;
  /** Readings with a non-finite event or ingest time, ignored. */
  invalidReadings: number;
  /** Metric values that are not finite numbers, ignored. */
  invalidValues: number;
  /** Records with an offset below nextOffset() (already reflected in the state), ignored. */
  skippedRecords: number;
}

export function validateProcessorSpec(spec: ProcessorSpec): void {
  if (typeof spec.pipeline !== 'string' || spec.pipeline.length === 0) {
    throw new ConfigError(`pipeline name ${JSON.stringify(spec.pipeline)} must be a non-empty string`, { key: 'pipeline' });
  }
  if (!Number.isSafeInteger(spec.partition) || spec.partition < 0) {
    throw new ConfigError(`partition ${String(spec.partition)} must be a non-negative integer`, { key: 'partition' });
  }
  validateWindowSpec(spec.window);
  validateWatermarkSpec(spec.watermark);
  if (spec.aggregates !== undefined && spec.aggregates !== 'all' && spec.aggregates !== 'count') {
    throw new ConfigError(`aggregates '${String(spec.aggregates)}' is unknown (use 'all' or 'count')`, { key: 'aggregates' });
  }
  const policy = spec.latePolicy;
  if (policy.kind === 'reemit') {
    if (!Number.isSafeInteger(policy.allowedLatenessMs) || policy.allowedLatenessMs < 0) {
      throw new ConfigError(`latePolicy.allowedLatenessMs is ${String(policy.allowedLatenessMs)} but must be a non-negative integer`, {
        key: 'latePolicy.allowedLatenessMs',
      });
    }
  } else if (policy.kind !== 'drop' && policy.kind !== 'late-topic') {
    throw new ConfigError(`latePolicy.kind '${(policy as { kind: unknown }).kind as string}' is unknown`, { key: 'latePolicy.kind' });
  }
}

export function windowSignature(window: WindowSpec): string {
  switch (window.kind) {
    case 'tumbling':
      return `tumbling(${window.sizeMs})`;
    case 'sliding':
      return `sliding(${window.sizeMs},${window.slideMs})`;
    case 'session':
      return `session(${window.gapMs})`;
  }
}

export function emptyStats(): ProcessorStats {
  return {
    readings: 0,
    ticks: 0,
    values: 0,
    duplicates: 0,
    lateDropped: 0,
    lateToTopic: 0,
    lateAbsorbed: 0,
    rowsEmitted: 0,
    rowsUpdated: 0,
    windowsOpened: 0,
    eventTimeAhead: 0,
    invalidReadings: 0,
    invalidValues: 0,
    skippedRecords: 0,
  };
}
