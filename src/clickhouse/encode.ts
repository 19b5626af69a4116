import type { EmittedAggregateRow, RawReadingRow } from '../core/rows.ts';
import { PipelineError } from '../core/errors.ts';

/**
 * Rows → JSONEachRow lines. Field order is fixed and numbers are checked, so the same rows
 * always encode to the same bytes (retries and replays send identical batches, which is what
 * makes a content-derived deduplication token meaningful). Column names here are the table's
 * (migrations.ts); the MATERIALIZED DateTime columns are computed by the server.
 */

export const AGGREGATE_COLUMNS = [
  'pipeline',
  'tenant',
  'device',
  'metric',
  'window_start_ms',
  'window_end_ms',
  'count',
  'sum',
  'min',
  'max',
  'first',
  'last',
  'first_time_ms',
  'last_time_ms',
  'p50',
  'late_readings',
  'max_ingest_time_ms',
  'kafka_partition',
  'version',
  'emitted_at_ms',
] as const;

export const RAW_READING_COLUMNS = [
  'tenant',
  'device',
  'reading_id',
  'metric',
  'value',
  'event_time_ms',
  'ingest_time_ms',
  'kafka_partition',
  'kafka_offset',
] as const;

export const CHECKPOINT_COLUMNS = ['pipeline', 'kafka_partition', 'kafka_offset', 'state', 'created_at_ms'] as const;

export class RowEncodingError extends PipelineError {
  constructor(message: string, context: Record<string, string | number>) {
    super('CLICKHOUSE_ROW_INVALID', message, { retriable: false, context });
    this.name = 'RowEncodingError';
  }
}

function unsigned(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RowEncodingError(`field '${field}' must be a non-negative safe integer, got ${String(value)}`, { field });
  }
  return value;
}

function finite(value: number, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new RowEncodingError(`field '${field}' must be a finite number, got ${String(value)}`, { field });
  }
  return value;
}

const text = (value: string): string => JSON.stringify(value);

export function encodeAggregateRow(row: EmittedAggregateRow): string {
  return (
    `{"pipeline":${text(row.pipeline)},"tenant":${text(row.tenant)},"device":${text(row.device)},` +
    `"metric":${text(row.metric)},"window_start_ms":${unsigned(row.windowStart, 'windowStart')},` +
    `"window_end_ms":${unsigned(row.windowEnd, 'windowEnd')},"count":${unsigned(row.count, 'count')},` +
    `"sum":${finite(row.sum, 'sum')},"min":${finite(row.min, 'min')},"max":${finite(row.max, 'max')},` +
    `"first":${finite(row.first, 'first')},"last":${finite(row.last, 'last')},` +
    `"first_time_ms":${unsigned(row.firstTime, 'firstTime')},"last_time_ms":${unsigned(row.lastTime, 'lastTime')},` +
    `"p50":${finite(row.p50, 'p50')},"late_readings":${unsigned(row.lateReadings, 'lateReadings')},` +
    `"max_ingest_time_ms":${unsigned(row.maxIngestTime, 'maxIngestTime')},` +
    `"kafka_partition":${unsigned(row.partition, 'partition')},"version":${unsigned(row.version, 'version')},` +
    `"emitted_at_ms":${unsigned(row.emittedAt, 'emittedAt')}}\n`
  );
}

export function encodeRawReadingRow(row: RawReadingRow): string {
  return (
    `{"tenant":${text(row.tenant)},"device":${text(row.device)},"reading_id":${text(row.readingId)},` +
    `"metric":${text(row.metric)},"value":${finite(row.value, 'value')},` +
    `"event_time_ms":${unsigned(row.eventTime, 'eventTime')},"ingest_time_ms":${unsigned(row.ingestTime, 'ingestTime')},` +
    `"kafka_partition":${unsigned(row.partition, 'partition')},"kafka_offset":${unsigned(row.offset, 'offset')}}\n`
  );
}

export interface CheckpointRow {
  readonly pipeline: string;
  readonly partition: number;
  readonly offset: number;
  readonly state: string;
  readonly createdAt: number;
}

export function encodeCheckpointRow(row: CheckpointRow): string {
  return (
    `{"pipeline":${text(row.pipeline)},"kafka_partition":${unsigned(row.partition, 'partition')},` +
    `"kafka_offset":${unsigned(row.offset, 'offset')},"state":${text(row.state)},` +
    `"created_at_ms":${unsigned(row.createdAt, 'createdAt')}}\n`
  );
}

/** Encodes rows[from, to) into one JSONEachRow body. */
export function encodeBatch<Row>(rows: readonly Row[], from: number, to: number, encode: (row: Row) => string): string {
  let body = '';
  for (let i = from; i < to; i++) body += encode(rows[i]!);
  return body;
}
