import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import type { ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { migrate, schemaLayout } from '../../src/clickhouse/migrations.ts';
import { ClickHouseSink } from '../../src/clickhouse/sink.ts';
import { refreshRollups, type RefreshReport } from '../../src/clickhouse/rollups.ts';
import { referenceFiguresSql, rollupFiguresSql, type PipelineRollups } from '../../src/clickhouse/rollups-sql.ts';
import { sqlTable } from '../../src/clickhouse/sql.ts';
import type { EmittedAggregateRow } from '../../src/core/rows.ts';
import type { RetryPolicy } from '../../src/util/retry.ts';

/**
 * The rollup proof, run verbatim on 18.16 (integration) and on chdb (unit): windows written
 * through the sink, then late corrections (the same windows re-emitted with higher versions and
 * other figures), then a replay (identical rows inserted again, and superseded versions inserted
 * after their successors), each followed by a refresh; after every refresh each rollup level must
 * equal `agg FINAL` grouped by its bucket, row for row. Values are multiples of 1/4 so that sums
 * added in any order are exact and the comparison can be strict.
 */

const noRetry: RetryPolicy = { maxAttempts: 1, initialDelayMs: 1, maxDelayMs: 1, maxElapsedMs: 1000 };
/** 2023-11-14 22:00 UTC: 28 hours of windows from here cross two UTC midnights (three day buckets). */
export const SCENARIO_START = Date.UTC(2023, 10, 14, 22, 0, 0);
const WINDOW_MS = 10 * 60_000;
const HOURS = 28;

export function rollupConfig(database: string): Config {
  return parseConfig({
    clickhouse: { database },
    aggregator: {
      pipelines: [
        {
          name: 'main',
          guarantee: 'exactly-once',
          window: { kind: 'tumbling', sizeMs: WINDOW_MS },
          watermark: { kind: 'fixed', delayMs: 1000 },
          latePolicy: { kind: 'reemit', allowedLatenessMs: 3_600_000 },
          rollups: [{ level: '1m' }, { level: '1h' }, { level: '1d' }],
        },
      ],
    },
  });
}

/** A small deterministic generator (mulberry32), so that both engines see the same rows. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function windowRow(next: () => number, device: string, metric: string, windowStart: number, version: number): EmittedAggregateRow {
  const count = 1 + Math.floor(next() * 20);
  const min = Math.floor(next() * 400) / 4 - 50;
  const max = min + Math.floor(next() * 200) / 4;
  const sum = Math.floor(next() * 4000) / 4;
  return {
    pipeline: 'main', tenant: device === 'd3' ? 'other' : 'acme', device, metric,
    windowStart, windowEnd: windowStart + WINDOW_MS,
    count, sum, min, max, first: min, last: max, firstTime: windowStart, lastTime: windowStart + 1,
    p50: min, lateReadings: 0, maxIngestTime: windowStart + 2, partition: 0, version, emittedAt: windowStart + WINDOW_MS + version,
  };
}

export interface ScenarioResult {
  readonly refreshes: readonly RefreshReport[];
  /** Physical rows in the aggregate table at the end (before merges), against rows after FINAL. */
  readonly physicalRows: number;
  readonly finalRows: number;
}

/** Runs the scenario in `database` (created by migrate) and asserts after each step; returns what it saw. */
export async function runRollupScenario(connection: ClickHouseConnection, database: string): Promise<ScenarioResult> {
  const config = rollupConfig(database);
  await migrate(connection, config);
  const rollups = schemaLayout(config, connection.capabilities).rollups![0]!;
  const next = random(19);
  const original: EmittedAggregateRow[] = [];
  for (let start = SCENARIO_START; start < SCENARIO_START + HOURS * 3_600_000; start += WINDOW_MS) {
    for (const device of ['d1', 'd2', 'd3']) for (const metric of ['temp', 'rh']) original.push(windowRow(next, device, metric, start, 1));
  }
  const sink = new ClickHouseSink(connection, { database, maxRowsPerInsert: 250, retryPolicy: noRetry });
  const refreshes: RefreshReport[] = [];
  const refreshAndCompare = async (step: string): Promise<void> => {
    refreshes.push(await refreshRollups(connection, database, rollups));
    await assertRollupsMatchFinal(connection, database, rollups, step);
  };

  await sink.insertAggregates('agg_main', original);
  await refreshAndCompare('first build');

  // Late corrections: every 7th window re-emitted twice, each time with a higher version and new figures.
  const corrected = original.filter((_, index) => index % 7 === 0);
  const secondVersions = corrected.map((row) => windowRow(next, row.device, row.metric, row.windowStart, 2));
  const thirdVersions = corrected.map((row) => windowRow(next, row.device, row.metric, row.windowStart, 3));
  await sink.insertAggregates('agg_main', secondVersions);
  await refreshAndCompare('after the second versions');
  await sink.insertAggregates('agg_main', thirdVersions);
  await refreshAndCompare('after the third versions');

  // A replay: the same rows again in other batches (so no deduplication token matches), and
  // superseded versions arriving after their successors.
  const replaySink = new ClickHouseSink(connection, { database, maxRowsPerInsert: 97, retryPolicy: noRetry });
  await replaySink.insertAggregates('agg_main', [...original.slice(100, 700), ...thirdVersions.slice(0, 60), ...secondVersions.slice(0, 40)]);
  await refreshAndCompare('after the replay');

  const idle = await refreshRollups(connection, database, rollups);
  assert.deepEqual(idle.levels.map((level) => level.statements), [0, 0, 0], 'a refresh with no new inserts rebuilds nothing');

  const [{ physical }] = await connection.query<{ physical: string }>(`SELECT count() AS physical FROM ${sqlTable(database, 'agg_main')}`) as [{ physical: string }];
  const [{ final }] = await connection.query<{ final: string }>(`SELECT count() AS final FROM ${sqlTable(database, 'agg_main')} FINAL`) as [{ final: string }];
  return { refreshes, physicalRows: Number(physical), finalRows: Number(final) };
}

type Figures = { tenant: string; device: string; metric: string; bucket_start_ms: number; windows: number; count: number; sum: number; min: number; max: number };

export async function assertRollupsMatchFinal(connection: ClickHouseConnection, database: string, rollups: PipelineRollups, step: string): Promise<void> {
  for (const level of rollups.levels) {
    const normalise = (rows: Record<string, unknown>[]): Figures[] =>
      rows.map((row) => ({
        tenant: String(row['tenant']), device: String(row['device']), metric: String(row['metric']),
        bucket_start_ms: Number(row['bucket_start_ms']), windows: Number(row['windows']), count: Number(row['count']),
        sum: Number(row['sum']), min: Number(row['min']), max: Number(row['max']),
      }));
    const rollup = normalise(await connection.query(rollupFiguresSql(database, level.table)));
    const reference = normalise(await connection.query(referenceFiguresSql(database, rollups.source, level.level)));
    assert.ok(reference.length > 0, `${step}: the reference for ${level.level} has rows`);
    assert.deepEqual(rollup, reference, `${step}: ${level.table} FINAL equals ${rollups.source} FINAL grouped by ${level.level}`);
  }
}
