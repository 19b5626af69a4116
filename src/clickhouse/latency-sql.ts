import { RAW_READINGS_TABLE } from './migrations.ts';
import { sqlString, sqlTable, sqlUnsigned } from './sql.ts';

/**
 * End-to-end latency per reading, measured in ClickHouse itself: from the reading's first intake
 * (readings_raw.ingest_time_ms of the earliest copy: the broker's append time, not a bridge host's
 * clock; decision 0012) to the first version of its window
 * that was emitted after it arrived (emitted_at_ms is stamped as that row's insert starts).
 * Tumbling windows only: the window of a reading is intDiv(event time, size) × size. Readings
 * dropped as late have no such version and are left out (they are counted as late drops).
 * Runs on 18.16 (ALL INNER JOIN ... USING) and on current servers.
 */
function perReadingLatencySql(database: string, table: string, windowSizeMs: number, tenant: string): string {
  const size = sqlUnsigned(windowSizeMs);
  const where = ` WHERE tenant = ${sqlString(tenant)}`;
  return (
    'SELECT tenant, device, metric, reading_id, any(ingest_time_ms) AS ingest_ms, min(emitted_at_ms) - any(ingest_time_ms) AS latency_ms FROM (' +
    'SELECT tenant, device, metric, reading_id, min(ingest_time_ms) AS ingest_time_ms, ' +
    `intDiv(min(event_time_ms), ${size}) * ${size} AS window_start_ms ` +
    `FROM ${sqlTable(database, RAW_READINGS_TABLE)}${where} GROUP BY tenant, device, metric, reading_id` +
    `) ALL INNER JOIN (SELECT tenant, device, metric, window_start_ms, emitted_at_ms FROM ${sqlTable(database, table)}${where}) ` +
    'USING (tenant, device, metric, window_start_ms) WHERE emitted_at_ms >= ingest_time_ms ' +
    'GROUP BY tenant, device, metric, reading_id'
  );
}

/** One row: p50, p95, p99, max latency (ms) and how many readings were measured. */
export function latencyQuantilesSql(database: string, table: string, windowSizeMs: number, tenant: string): string {
  return (
    'SELECT quantileExact(0.5)(latency_ms) AS p50, quantileExact(0.95)(latency_ms) AS p95, ' +
    'quantileExact(0.99)(latency_ms) AS p99, max(latency_ms) AS max, count() AS readings ' +
    `FROM (${perReadingLatencySql(database, table, windowSizeMs, tenant)})`
  );
}

/** Latency quantiles and throughput per bucket of intake time, for the report's charts. */
export function latencyOverTimeSql(database: string, table: string, windowSizeMs: number, bucketMs: number, tenant: string): string {
  const bucket = sqlUnsigned(bucketMs);
  return (
    `SELECT intDiv(ingest_ms, ${bucket}) * ${bucket} AS bucket_ms, quantileExact(0.5)(latency_ms) AS p50, ` +
    'quantileExact(0.95)(latency_ms) AS p95, quantileExact(0.99)(latency_ms) AS p99, count() AS readings ' +
    `FROM (${perReadingLatencySql(database, table, windowSizeMs, tenant)}) GROUP BY bucket_ms ORDER BY bucket_ms`
  );
}

/** Arrival records (event time, intake time, device) of the accepted readings, for the watermark analysis. */
export function arrivalTraceSql(database: string, limit: number): string {
  return (
    'SELECT device, min(event_time_ms) AS event_time_ms, min(ingest_time_ms) AS ingest_time_ms, any(kafka_partition) AS kafka_partition ' +
    `FROM ${sqlTable(database, RAW_READINGS_TABLE)} GROUP BY tenant, device, reading_id ORDER BY ingest_time_ms LIMIT ${sqlUnsigned(limit)}`
  );
}
