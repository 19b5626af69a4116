import type { Auditor } from '../../src/clickhouse/audit.ts';
import type { ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { latencyOverTimeSql, latencyQuantilesSql } from '../../src/clickhouse/latency-sql.ts';
import type { Config } from '../../src/config/schema.ts';
import { errorMessage } from '../../src/core/errors.ts';
import type { FleetResult } from '../fleet/publisher.ts';
import { settleStep, startSettleWait, type Balance, type RunFailure, type ServiceExit, type SettleLimits, type SettleOutcome } from './verdict.ts';

/**
 * The end-to-end run's queries after the fleet: the bounded wait for the aggregates to settle, then
 * the audit (acknowledged ids against readings_raw, duplicates, balance) and the latency measured
 * in ClickHouse. A query that fails leaves its figure unknown and a reason, never an exception.
 */
export interface Latency {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly readings: number;
}

export interface LatencyBucket {
  readonly bucketMs: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly readings: number;
}

/** Runs one step of the run; on failure records it (phase and message) and gives undefined. */
export type Attempt = <T>(phase: RunFailure['phase'], what: string, work: () => Promise<T>) => Promise<T | undefined>;

/** The aggregates' table of the run's one pipeline. */
export const TABLE = 'agg_load';
const LOST_SAMPLE = 10;

/**
 * Polls the balance until the aggregates settle, a service the rest depends on has exited, or the
 * time is up; a timeout is an outcome to report, not an error. Windows close once the watermark
 * passes them: idle partitions advance on the bridge's ticks.
 */
export async function waitForSettling(auditor: Auditor, tenant: string, limits: SettleLimits, exited: readonly ServiceExit[], aggregators: number): Promise<SettleOutcome> {
  let wait = startSettleWait(Date.now());
  for (;;) {
    const balance = await auditor.readingsBalance(TABLE, { tenant }).catch((error: unknown) => ({ error: errorMessage(error) }));
    const step = settleStep(wait, { nowMs: Date.now(), balance, exited, aggregators }, limits);
    wait = step.wait;
    if (step.outcome) return step.outcome;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

export interface AuditFigures {
  readonly balance: Balance | undefined;
  readonly lost: number | null;
  readonly lostSample: readonly string[];
  readonly duplicated: number | null;
  readonly latency: Latency | undefined;
  readonly latencyOverTime: LatencyBucket[] | undefined;
}

/** Each query on its own: one that fails leaves its figure unknown (and a reason), not the whole report. */
export async function auditRun(
  auditor: Auditor,
  connection: ClickHouseConnection,
  config: Config,
  tenant: string,
  fleet: FleetResult,
  windowSizeMs: number,
  attempt: Attempt,
): Promise<AuditFigures> {
  const expected = [...fleet.ackedIds].flatMap(([device, ids]) => ids.map((readingId) => ({ tenant, device, readingId })));
  const missing = await attempt('audit', 'finding acknowledged ids missing from readings_raw', () => auditor.missingReadings(expected, LOST_SAMPLE));
  const duplicated = await attempt('audit', 'counting duplicated aggregates', async () => {
    const duplicateKeys = await auditor.duplicateAggregateKeys(TABLE, { tenant }, 5);
    const miscounted = await auditor.miscountedSeries(TABLE, { tenant }, 1, 1000);
    return duplicateKeys.total + miscounted.sample.reduce((sum, series) => sum + Math.max(0, series.countedValues - series.acceptedValues), 0);
  });
  const balance = await attempt('audit', 'reading the balance of accepted and counted values', () => auditor.readingsBalance(TABLE, { tenant }));
  const latency = await attempt('latency', 'measuring end-to-end latency', () => latencyOf(connection, config, TABLE, windowSizeMs, tenant));
  const latencyOverTime = await attempt('latency', 'measuring latency over time', () => latencyTimeline(connection, config, TABLE, windowSizeMs, tenant));
  return {
    balance,
    lost: missing?.total ?? null,
    lostSample: missing?.sample.map((reading) => `${reading.device}/${reading.readingId}`) ?? [],
    duplicated: duplicated ?? null,
    latency,
    latencyOverTime,
  };
}

async function latencyOf(connection: ClickHouseConnection, config: Config, table: string, windowSizeMs: number, tenant: string): Promise<Latency> {
  const [row] = await connection.query<Record<string, string | number>>(latencyQuantilesSql(config.clickhouse.database, table, windowSizeMs, tenant));
  return { p50: Number(row?.['p50'] ?? 0), p95: Number(row?.['p95'] ?? 0), p99: Number(row?.['p99'] ?? 0), max: Number(row?.['max'] ?? 0), readings: Number(row?.['readings'] ?? 0) };
}

async function latencyTimeline(connection: ClickHouseConnection, config: Config, table: string, windowSizeMs: number, tenant: string): Promise<LatencyBucket[]> {
  const rows = await connection.query<Record<string, string | number>>(latencyOverTimeSql(config.clickhouse.database, table, windowSizeMs, 5000, tenant));
  return rows.map((row) => ({ bucketMs: Number(row['bucket_ms']), p50: Number(row['p50']), p95: Number(row['p95']), p99: Number(row['p99']), readings: Number(row['readings']) }));
}
