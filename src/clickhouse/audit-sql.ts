import type { WindowConfig } from '../config/schema.ts';
import { RAW_READINGS_TABLE } from './migrations.ts';
import { sqlIdentifier, sqlString, sqlTable, sqlUnsigned } from './sql.ts';

/**
 * The audit and example queries, as SQL text (runners are in audit.ts). Every query runs on
 * ClickHouse 18.16 and on current servers: FINAL, GROUP BY ... HAVING, UNION ALL in a subquery,
 * scalar subqueries, tuple IN / NOT IN, session temporary tables. No JOIN, no query parameters.
 *
 * Units: readings_raw holds one row per (reading, metric) and an aggregate row counts one metric's
 * readings, so "values" below are (reading, metric) pairs.
 */

export interface AuditScope {
  readonly tenant?: string;
  /** Inclusive lower bound of window start (aggregates) and event time (raw readings), epoch ms. */
  readonly fromMs?: number;
  /** Exclusive upper bound, epoch ms. */
  readonly toMs?: number;
}

/**
 * How many windows count each reading: 1 for tumbling and session windows, size/slide for
 * sliding ones. With sliding windows a time-bounded audit is exact only away from the range's
 * edges (a window starting before fromMs also holds readings after it); audit whole ranges.
 */
export function windowMultiplicity(window: WindowConfig): number {
  return window.kind === 'sliding' ? window.sizeMs / window.slideMs : 1;
}

function whereClause(scope: AuditScope, timeColumn: string): string {
  const conditions: string[] = [];
  if (scope.tenant !== undefined) conditions.push(`tenant = ${sqlString(scope.tenant)}`);
  if (scope.fromMs !== undefined) conditions.push(`${timeColumn} >= ${sqlUnsigned(scope.fromMs)}`);
  if (scope.toMs !== undefined) conditions.push(`${timeColumn} < ${sqlUnsigned(scope.toMs)}`);
  return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
}

const aggregatesWhere = (scope: AuditScope): string => whereClause(scope, 'window_start_ms');
const rawWhere = (scope: AuditScope): string => whereClause(scope, 'event_time_ms');

/** Wraps a listing query: how many rows it returns. */
export function countOf(listingSql: string): string {
  return `SELECT count() AS total FROM (${listingSql})`;
}

/** Wraps a listing query: its first `limit` rows. */
export function firstOf(listingSql: string, limit: number): string {
  return `${listingSql} LIMIT ${sqlUnsigned(limit)}`;
}

/** Window keys that still appear more than once after FINAL. Must be empty. */
export function duplicateAggregateKeysSql(database: string, table: string, scope: AuditScope = {}): string {
  return (
    `SELECT tenant, device, metric, window_start_ms, count() AS copies FROM ${sqlTable(database, table)} FINAL` +
    `${aggregatesWhere(scope)} GROUP BY tenant, device, metric, window_start_ms HAVING count() > 1` +
    ' ORDER BY tenant, device, metric, window_start_ms'
  );
}

/** (reading, metric) keys that still appear more than once after FINAL. Must be empty. */
export function duplicateRawReadingsSql(database: string, scope: AuditScope = {}): string {
  return (
    `SELECT tenant, device, reading_id, metric, count() AS copies FROM ${sqlTable(database, RAW_READINGS_TABLE)} FINAL` +
    `${rawWhere(scope)} GROUP BY tenant, device, reading_id, metric HAVING count() > 1` +
    ' ORDER BY tenant, device, reading_id, metric'
  );
}

/**
 * One row: accepted values (readings_raw FINAL), distinct accepted readings, and values counted
 * in the aggregates (sum(count) FINAL). Counted = accepted × multiplicity when nothing was lost
 * or counted twice (readings dropped as too late are accepted but not counted).
 */
export function readingsBalanceSql(database: string, table: string, scope: AuditScope = {}): string {
  const raw = sqlTable(database, RAW_READINGS_TABLE);
  return (
    `SELECT (SELECT count() FROM ${raw} FINAL${rawWhere(scope)}) AS accepted_values, ` +
    `(SELECT uniqExact(tenant, device, reading_id) FROM ${raw} FINAL${rawWhere(scope)}) AS accepted_readings, ` +
    `(SELECT sum(count) FROM ${sqlTable(database, table)} FINAL${aggregatesWhere(scope)}) AS counted_values`
  );
}

/**
 * (tenant, device, metric) series whose counted values differ from accepted values × multiplicity:
 * counted above it means a reading was counted twice, below it means one was lost or dropped.
 */
export function miscountedSeriesSql(database: string, table: string, scope: AuditScope = {}, multiplicity = 1): string {
  if (!Number.isInteger(multiplicity) || multiplicity < 1) {
    throw new RangeError(`window multiplicity must be a positive integer, got ${multiplicity}`);
  }
  return (
    'SELECT tenant, device, metric, sum(c) AS counted_values, sum(a) AS accepted_values FROM (' +
    `SELECT tenant, device, metric, sum(count) AS c, toUInt64(0) AS a FROM ${sqlTable(database, table)} FINAL` +
    `${aggregatesWhere(scope)} GROUP BY tenant, device, metric` +
    ' UNION ALL ' +
    `SELECT tenant, device, metric, toUInt64(0) AS c, count() AS a FROM ${sqlTable(database, RAW_READINGS_TABLE)} FINAL` +
    `${rawWhere(scope)} GROUP BY tenant, device, metric` +
    `) GROUP BY tenant, device, metric HAVING counted_values != accepted_values * ${sqlUnsigned(multiplicity)}` +
    ' ORDER BY tenant, device, metric'
  );
}

/**
 * The expected (acknowledged) reading ids travel in a session's temporary table: any number of
 * them, inserted as JSONEachRow, with no query-size limit and nothing left behind.
 */
export const EXPECTED_IDS_TABLE = 'audit_expected_ids';
export const EXPECTED_IDS_COLUMNS = ['tenant', 'device', 'reading_id'] as const;

export function createExpectedIdsSql(): string {
  return `CREATE TEMPORARY TABLE IF NOT EXISTS ${sqlIdentifier(EXPECTED_IDS_TABLE)} (tenant String, device String, reading_id String) ENGINE = Memory`;
}

export function dropExpectedIdsSql(): string {
  return `DROP TEMPORARY TABLE IF EXISTS ${sqlIdentifier(EXPECTED_IDS_TABLE)}`;
}

/** Expected readings with no row at all in readings_raw: acknowledged, then lost. */
export function missingReadingIdsSql(database: string): string {
  const expected = sqlIdentifier(EXPECTED_IDS_TABLE);
  return (
    `SELECT DISTINCT tenant, device, reading_id FROM ${expected} WHERE (tenant, device, reading_id) NOT IN (` +
    `SELECT tenant, device, reading_id FROM ${sqlTable(database, RAW_READINGS_TABLE)} ` +
    `WHERE (tenant, device, reading_id) IN (SELECT tenant, device, reading_id FROM ${expected}))` +
    ' ORDER BY tenant, device, reading_id'
  );
}

export function distinctExpectedIdsSql(): string {
  return `SELECT uniqExact(tenant, device, reading_id) AS total FROM ${sqlIdentifier(EXPECTED_IDS_TABLE)}`;
}

export interface ExampleQuery {
  readonly title: string;
  readonly sql: string;
}

/** Read queries for users (README shows them with their output). */
export function exampleQueries(database: string, table: string, tenant: string): ExampleQuery[] {
  const agg = sqlTable(database, table);
  const forTenant = `tenant = ${sqlString(tenant)}`;
  return [
    {
      title: 'Latest windows, collapsed with FINAL',
      sql:
        'SELECT device, metric, window_start, count, round(sum / count, 3) AS mean, min, max, p50, version\n' +
        `FROM ${agg} FINAL\nWHERE ${forTenant}\nORDER BY window_start_ms DESC, device, metric\nLIMIT 10`,
    },
    {
      title: 'Latest windows with argMax (no FINAL: each window row of the highest version)',
      sql:
        "SELECT device, metric, toDateTime(intDiv(window_start_ms, 1000), 'UTC') AS window_start_utc,\n" +
        '       max(version) AS latest_version, argMax(count, version) AS readings,\n' +
        '       round(argMax(sum, version) / argMax(count, version), 3) AS mean\n' +
        `FROM ${agg}\nWHERE ${forTenant}\nGROUP BY device, metric, window_start_ms\n` +
        'ORDER BY window_start_ms DESC, device, metric\nLIMIT 10',
    },
    {
      title: 'Hourly rollup per device and metric',
      sql:
        'SELECT device, metric, toStartOfHour(window_start) AS hour, sum(count) AS readings,\n' +
        '       round(sum(sum) / sum(count), 3) AS mean, min(min) AS lowest, max(max) AS highest\n' +
        `FROM ${agg} FINAL\nWHERE ${forTenant}\nGROUP BY device, metric, hour\nORDER BY hour DESC, device, metric\nLIMIT 20`,
    },
    {
      title: 'Freshness: from the last reading of a window reaching the bridge to the window being written',
      sql:
        'SELECT count() AS windows,\n' +
        '       quantiles(0.5, 0.99)(toInt64(emitted_at_ms) - toInt64(max_ingest_time_ms)) AS emit_delay_ms_p50_p99\n' +
        `FROM ${agg} FINAL\nWHERE ${forTenant}`,
    },
  ];
}
