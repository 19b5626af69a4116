import { PipelineError, errorMessage } from '../core/errors.ts';
import type { ReadingRecord } from '../core/readings.ts';
import type { AggregateRow, RawReadingRow } from '../core/rows.ts';
import type { EncodedRows } from '../clickhouse/encode.ts';
import type { AggregateSink } from '../clickhouse/sink.ts';
import type { AggregatorMetrics } from './metrics.ts';
import type { CrashPoints } from './crash-points.ts';

/** What one flush writes: rows and raw readings into ClickHouse, late readings acknowledged by Kafka. */
export interface FlushBatch {
  readonly rows: AggregateRow[];
  /** Encoded as collected (see EncodedRows): bytes wait for the insert, not objects. */
  readonly raw: EncodedRows<RawReadingRow>;
  /** Each late write, handled as it is made: resolves with its failure (already passed to fail()) or null. */
  readonly late: Promise<PipelineError | null>[];
}

export function emptyBatch(sink: AggregateSink): FlushBatch {
  return { rows: [], raw: sink.rawReadingsBuffer(), late: [] };
}

export function isEmptyBatch(batch: FlushBatch): boolean {
  return batch.rows.length === 0 && batch.raw.size === 0 && batch.late.length === 0;
}

/** A reading's finite values as raw-readings rows, each at the offset of the record that carried it. */
export function collectRaw(batch: FlushBatch, reading: ReadingRecord, partition: number, offset: number): void {
  for (const metric in reading.metrics) {
    const value = reading.metrics[metric];
    if (typeof value !== 'number' || !Number.isFinite(value)) continue;
    batch.raw.push({
      tenant: reading.tenant,
      device: reading.device,
      readingId: reading.id,
      metric,
      value,
      eventTime: reading.eventTime,
      ingestTime: reading.ingestTime,
      partition,
      offset,
    });
  }
}

export interface BatchWriterDeps {
  readonly pipeline: string;
  readonly table: string;
  readonly labels: { readonly pipeline: string; readonly tier: string };
  readonly sink: AggregateSink;
  readonly metrics: AggregatorMetrics;
  readonly crashPoints?: CrashPoints;
  readonly now: () => number;
  /** The pipeline's failure so far: a batch is not written after one. */
  readonly fatal: () => PipelineError | null;
  /** Records a failure as the pipeline's (the first one counts) and returns it. */
  readonly fail: (error: PipelineError) => PipelineError;
}

/** Writes one flush batch: rows and raw readings into ClickHouse, late readings acknowledged by Kafka. */
export async function writeBatch(deps: BatchWriterDeps, batch: FlushBatch): Promise<void> {
  const { rows, raw, late } = batch;
  if (isEmptyBatch(batch)) return;
  const fatal = deps.fatal();
  if (fatal) throw fatal;
  // emitted_at is stamped as the insert starts, so that it tells when the row became queryable
  // (give or take the insert itself), not when it waited for the flush.
  const emittedAt = deps.now();
  deps.crashPoints?.reached('before-flush');
  const timer = deps.metrics.insertSeconds.startTimer(deps.labels);
  try {
    // Encoded straight to bytes with the flush's emittedAt (no copy of each row to add it).
    const encoded = deps.sink.aggregateRowsBuffer(emittedAt);
    for (const row of rows) encoded.push(row);
    if (raw.size > 0) await deps.sink.insertRawReadings(raw);
    deps.crashPoints?.reached('during-insert');
    if (encoded.size > 0) await deps.sink.insertAggregates(deps.table, encoded);
    const lateFailure = (await Promise.all(late)).find((failure) => failure !== null);
    if (lateFailure) throw lateFailure;
  } catch (error) {
    deps.metrics.insertErrors.inc(deps.labels);
    throw deps.fail(
      error instanceof PipelineError ? error : new PipelineError('SINK_FAILED', `pipeline ${deps.pipeline}: flush failed: ${errorMessage(error)}`, { cause: error }),
    );
  } finally {
    timer();
  }
  const insertedAt = deps.now();
  deps.metrics.rowsInserted.inc(deps.labels, rows.length);
  deps.metrics.rowsEmitted.inc(deps.labels, rows.length);
  for (const row of rows) deps.metrics.e2eSeconds.observe(deps.labels, Math.max(0, insertedAt - row.maxIngestTime) / 1000);
}
