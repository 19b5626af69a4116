import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import type { ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { migrate } from '../../src/clickhouse/migrations.ts';
import { applyRetention } from '../../src/clickhouse/retention.ts';
import { sqlTable } from '../../src/clickhouse/sql.ts';
import { rollupConfig, runRollupScenario } from '../support/rollup-scenario.ts';
import { ScratchDatabases } from '../support/scratch-database.ts';

/**
 * Rollups and retention against the real server (the stack's 18.16 by default; TP_CLICKHOUSE__URL
 * overrides), in databases of their own that are dropped at the end. The same scenario runs in
 * chdb (test/unit/clickhouse-rollups.test.ts).
 */

const scratch = new ScratchDatabases();
const databases = [scratch.name('rollups'), scratch.name('retention')];
let connection: ClickHouseConnection;

before(async () => {
  const config = loadConfig({ overrides: { clickhouse: { database: databases[0] } } });
  connection = await scratch.connect(config.clickhouse);
});

after(() => scratch.dropAll());

test('rollups equal agg FINAL grouped by minute, hour and day after late corrections and a replay (server)', async () => {
  const result = await runRollupScenario(connection, databases[0]!);
  assert.ok(result.physicalRows > result.finalRows, `superseded and replayed rows are in the table (${result.physicalRows} > ${result.finalRows})`);
});

test('retention drops the expired partitions of the aggregate and rollup tables (or sets their TTL), and keeps recent ones', async () => {
  const database = databases[1]!;
  const base = rollupConfig(database);
  const pipeline = { ...base.aggregator.pipelines[0]!, retentionDays: 5, rollups: [{ level: '1h' as const, retentionDays: 5 }] };
  const config: Config = { ...base, aggregator: { ...base.aggregator, pipelines: [pipeline] } };
  await migrate(connection, config);
  const DAY = 86_400_000;
  const now = Date.now();
  const starts = [now - 10 * DAY, now - 7 * DAY, now - 2 * DAY, now - DAY];
  const values = (columns: (start: number) => string) => starts.map((start) => `(${columns(start)})`).join(', ');
  await connection.command(
    `INSERT INTO ${sqlTable(database, 'agg_main')} (tenant, device, metric, window_start_ms, window_end_ms, count, version) VALUES ` +
      values((start) => `'acme', 'd1', 'temp', ${start}, ${start + 1000}, 1, 1`),
  );
  const hour = (start: number) => start - (start % 3_600_000);
  await connection.command(
    `INSERT INTO ${sqlTable(database, 'agg_main_1h')} (tenant, device, metric, bucket_start_ms, windows, count, version) VALUES ` +
      values((start) => `'acme', 'd1', 'temp', ${hour(start)}, 1, 1, 1`),
  );
  const report = await applyRetention(connection, config, { now: () => now });
  if (report.mechanism === 'ttl') await connection.command(`OPTIMIZE TABLE ${sqlTable(database, 'agg_main')} FINAL`);
  else assert.equal(report.actions.length, 4, JSON.stringify(report.actions));
  const remaining = await connection.query<{ window_start_ms: string }>(`SELECT window_start_ms FROM ${sqlTable(database, 'agg_main')} ORDER BY window_start_ms`);
  assert.deepEqual(remaining.map((row) => Number(row.window_start_ms)), starts.slice(2));
  const remainingHours = await connection.query<{ bucket_start_ms: string }>(`SELECT bucket_start_ms FROM ${sqlTable(database, 'agg_main_1h')} ORDER BY bucket_start_ms`);
  if (report.mechanism === 'partition-drop') assert.deepEqual(remainingHours.map((row) => Number(row.bucket_start_ms)), starts.slice(2).map(hour));
  assert.deepEqual((await applyRetention(connection, config, { now: () => now })).actions, [], 'a second run has nothing to do');
});
