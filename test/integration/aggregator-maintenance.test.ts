import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { Config } from '../../src/config/schema.ts';
import type { ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { migrate, schemaLayout } from '../../src/clickhouse/migrations.ts';
import { sqlTable } from '../../src/clickhouse/sql.ts';
import { Maintenance } from '../../src/aggregator/maintenance.ts';
import { createMaintenanceMetrics } from '../../src/aggregator/metrics.ts';
import { eventually } from '../../src/stack/services.ts';
import { createLogger } from '../../src/util/log.ts';
import { assertRollupsMatchFinal, rollupConfig } from '../support/rollup-scenario.ts';
import { ScratchDatabases } from '../support/scratch-database.ts';

/**
 * The service's schedule (src/aggregator/maintenance.ts) against the real server (the stack's
 * 18.16 by default), in a database of its own: windows that arrive after the schedule started
 * reach every rollup level without anyone calling `rollups refresh`, and expired partitions go
 * without `retention apply`.
 */

const scratch = new ScratchDatabases();
const database = scratch.name('maintenance');
let connection: ClickHouseConnection;

before(async () => {
  const config = rollupConfig(database);
  connection = await scratch.connect(config.clickhouse);
});

after(() => scratch.dropAll());

async function insertWindows(starts: readonly number[], version: number): Promise<void> {
  const rows = starts.map((start) => `('acme', 'd1', 'temp', ${start}, ${start + 600_000}, ${version + 1}, ${version * 2.5}, 1, 9, ${version})`);
  await connection.command(
    `INSERT INTO ${sqlTable(database, 'agg_main')} (tenant, device, metric, window_start_ms, window_end_ms, count, sum, min, max, version) VALUES ${rows.join(', ')}`,
  );
}

test('the scheduled refresh brings every rollup level up to date after new windows and corrections arrive, and retention drops expired partitions', async () => {
  const base = rollupConfig(database);
  const DAY = 86_400_000;
  // Recent windows (inside the retention), from 22:00 UTC two days ago across the next midnight.
  const start = Date.now() - (Date.now() % DAY) - 2 * DAY + 22 * 3_600_000;
  const pipeline = { ...base.aggregator.pipelines[0]!, retentionDays: 30 };
  const config: Config = { ...base, aggregator: { ...base.aggregator, pipelines: [pipeline], rollupRefreshIntervalMs: 300, retentionIntervalMs: 300 } };
  await migrate(connection, config);
  const rollups = schemaLayout(config, connection.capabilities).rollups![0]!;
  const registry = new Registry();
  const metrics = createMaintenanceMetrics(registry);
  const successes = async (): Promise<number> => (await metrics.refreshRuns.get()).values.find((v) => v.labels['outcome'] === 'success')?.value ?? 0;
  const matches = (step: string) => async (): Promise<true | undefined> => {
    try {
      await assertRollupsMatchFinal(connection, database, rollups, step);
      return true;
    } catch (error) {
      if (error instanceof assert.AssertionError) return undefined;
      throw error;
    }
  };

  const maintenance = new Maintenance({ config, connection: async () => connection, metrics, logger: createLogger('maintenance-test') });
  maintenance.start();
  try {
    // Windows arriving after the schedule started, across hours and a UTC midnight.
    await insertWindows([0, 1, 2, 5, 9, 13].map((step) => start + step * 600_000), 1);
    await eventually('the rollups to reach the first windows', matches('first windows'), 30_000, 200);
    const afterFirst = await successes();

    // More windows and late corrections of earlier ones (higher versions): the hour and day must
    // count each window once, with its latest figures.
    await insertWindows([0, 2, 20, 30].map((step) => start + step * 600_000), 2);
    await eventually('the rollups to absorb the corrections', matches('corrections'), 30_000, 200);
    assert.ok((await successes()) > afterFirst, 'a later scheduled run brought them up to date');

    // A window older than the retention: 18.16 has no TTL, so its day partition must be dropped.
    const old = Date.now() - 40 * DAY;
    await insertWindows([old - (old % 600_000)], 1);
    if (!connection.capabilities.supportsTtl) {
      await eventually('the expired partition to be dropped', async () => {
        const [row] = await connection.query<{ n: string }>(`SELECT count() AS n FROM ${sqlTable(database, 'agg_main')} WHERE window_start_ms < ${Date.now() - 30 * DAY}`);
        return Number(row?.n) === 0 ? true : undefined;
      }, 30_000, 200);
    }
    const retention = (await metrics.retentionRuns.get()).values.find((v) => v.labels['outcome'] === 'success')?.value ?? 0;
    assert.ok(retention >= 1, 'retention ran on its schedule');
  } finally {
    await maintenance.stop();
  }
  const failures = (await metrics.refreshRuns.get()).values.find((v) => v.labels['outcome'] === 'failure')?.value ?? 0;
  assert.equal(failures, 0, 'no scheduled refresh failed');
});
