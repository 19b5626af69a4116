import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { CLICKHOUSE_18_16 } from '../../src/clickhouse/capabilities.ts';
import type { ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { migrate, schemaLayout, schemaStatements } from '../../src/clickhouse/migrations.ts';
import { contiguousRanges } from '../../src/clickhouse/rollups.ts';
import { pipelineRollups } from '../../src/clickhouse/rollups-sql.ts';
import { applyRetention, expiredPartitions, partitionEndMs, ttlDaysOf } from '../../src/clickhouse/retention.ts';
import { sqlString } from '../../src/clickhouse/sql.ts';
import { openChdb, type ChdbHarness } from './clickhouse-chdb.ts';
import { rollupConfig, runRollupScenario, SCENARIO_START } from '../support/rollup-scenario.ts';

/**
 * Rollups and retention: the SQL as text, then run verbatim on a current engine (chdb). The same
 * scenario runs against 18.16 in test/integration/clickhouse-rollups.test.ts.
 */

let chdb: ChdbHarness;
before(async () => {
  chdb = await openChdb();
});
after(() => chdb.close());

const DAY = 86_400_000;

test('rollup levels must be listed finest first, each once', () => {
  const withRollups = (levels: string[]) => () =>
    parseConfig({ aggregator: { pipelines: [{ name: 'main', guarantee: 'exactly-once', window: { kind: 'tumbling', sizeMs: 5000 }, watermark: { kind: 'fixed', delayMs: 0 }, latePolicy: { kind: 'drop' }, rollups: levels.map((level) => ({ level })) }] } });
  assert.doesNotThrow(withRollups(['1m', '1h', '1d']));
  assert.doesNotThrow(withRollups(['1h']));
  for (const levels of [['1h', '1m'], ['1h', '1h'], ['1d', '1h', '1m']]) {
    assert.throws(withRollups(levels), (error: unknown) => error instanceof ConfigError && /aggregator\.pipelines\.0\.rollups\.1\.level/.test(error.message), levels.join(','));
  }
});

test('the rollup DDL: per level a ReplacingMergeTree by version, the marks view on the aggregate table; Replicated on a cluster', () => {
  const config = rollupConfig('r');
  const plain = schemaStatements(schemaLayout(config, CLICKHOUSE_18_16)).join('\n');
  assert.match(plain, /CREATE TABLE IF NOT EXISTS `r`\.`agg_main_1h` [\s\S]*?ENGINE = ReplacingMergeTree\(version\)\nPARTITION BY toYYYYMMDD/);
  assert.match(plain, /CREATE TABLE IF NOT EXISTS `r`\.`agg_main_1d` [\s\S]*?PARTITION BY toYYYYMM\(/);
  assert.match(plain, /CREATE MATERIALIZED VIEW IF NOT EXISTS `r`\.`agg_main_rollup_marks_mv` TO `r`\.`agg_main_rollup_marks`/);
  assert.match(plain, /ENGINE = SummingMergeTree\(inserted_rows\)/);
  assert.doesNotMatch(plain, /\bTTL\b/, 'no TTL in the DDL: 18.16 has none; retention apply sets it where it exists');
  const clustered = schemaStatements(schemaLayout({ ...config, clickhouse: { ...config.clickhouse, cluster: 'c' } }, CLICKHOUSE_18_16)).join('\n');
  assert.match(clustered, /ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\/r\/agg_main_1h', '\{replica\}', version\)/);
  assert.match(clustered, /ReplicatedSummingMergeTree\('\/clickhouse\/tables\/\{shard\}\/r\/agg_main_rollup_marks', '\{replica\}', inserted_rows\)/);
  const none = schemaStatements(schemaLayout(parseConfig({ clickhouse: { database: 'r' } }), CLICKHOUSE_18_16)).join('\n');
  assert.doesNotMatch(none, /rollup/, 'a pipeline without rollups gets no view: the view costs every insert');
});

test('contiguous ranges join adjacent units and stop at the span limit', () => {
  const H = 3_600_000;
  assert.deepEqual(contiguousRanges([0, H, 2 * H, 5 * H], H, 2 * H), [
    { fromMs: 0, toMs: 2 * H },
    { fromMs: 2 * H, toMs: 3 * H },
    { fromMs: 5 * H, toMs: 6 * H },
  ]);
  assert.deepEqual(contiguousRanges([], H, H), []);
});

test('partitions expire only when every row in them is older than the retention', () => {
  assert.equal(partitionEndMs('20231114'), Date.UTC(2023, 10, 15));
  assert.equal(partitionEndMs('202312'), Date.UTC(2024, 0, 1));
  assert.equal(partitionEndMs('all'), null);
  const now = Date.UTC(2023, 10, 20, 12);
  // cutoff = Nov 17 12:00: Nov 16 ends before it; Nov 17 holds rows after it.
  assert.deepEqual(expiredPartitions(['20231115', '20231116', '20231117', '20231118', 'x'], 3, now), ['20231115', '20231116']);
  assert.deepEqual(expiredPartitions(['202309', '202310', '202311'], 30, now), ['202309']);
  assert.deepEqual(expiredPartitions(['20000101'], 0, now), [], '0 keeps everything');
});

test('a TTL clause is read back from the CREATE statement of either spelling', () => {
  assert.equal(ttlDaysOf('... ORDER BY (a) TTL window_start + toIntervalDay(40) SETTINGS index_granularity = 8192'), 40);
  assert.equal(ttlDaysOf('... TTL bucket_start + INTERVAL 7 DAY'), 7);
  assert.equal(ttlDaysOf('... ORDER BY (a) SETTINGS index_granularity = 8192'), 0);
});

test('a materialized view summing the aggregate table counts a corrected or replayed window twice (why rollups are rebuilt from FINAL)', () => {
  chdb.rows('CREATE DATABASE naive');
  chdb.rows("CREATE TABLE naive.agg (device String, window_start_ms UInt64, count UInt64, version UInt64) ENGINE = ReplacingMergeTree(version) ORDER BY (device, window_start_ms)");
  chdb.rows('CREATE TABLE naive.hourly (device String, hour_ms UInt64, count UInt64) ENGINE = SummingMergeTree(count) ORDER BY (device, hour_ms)');
  chdb.rows('CREATE MATERIALIZED VIEW naive.mv TO naive.hourly AS SELECT device, intDiv(window_start_ms, 3600000) * 3600000 AS hour_ms, sum(count) AS count FROM naive.agg GROUP BY device, hour_ms');
  chdb.rows("INSERT INTO naive.agg VALUES ('d1', 0, 5, 1)");
  chdb.rows("INSERT INTO naive.agg VALUES ('d1', 0, 6, 2)"); // late correction: 6 readings in total
  chdb.rows("INSERT INTO naive.agg VALUES ('d1', 0, 6, 2)"); // replay
  const [{ final }] = chdb.rows<{ final: number }>('SELECT sum(count) AS final FROM naive.agg FINAL') as [{ final: number }];
  const [{ naive }] = chdb.rows<{ naive: number }>('SELECT sum(count) AS naive FROM naive.hourly FINAL') as [{ naive: number }];
  assert.deepEqual({ final, naive }, { final: 6, naive: 17 });
});

test('rollups equal agg FINAL grouped by minute, hour and day after late corrections and a replay (chdb)', async () => {
  const result = await runRollupScenario(chdb.connection, 'rollups_chdb');
  assert.ok(result.physicalRows > result.finalRows, `the table holds superseded and replayed rows (${result.physicalRows} > ${result.finalRows}) that the rollups did not count`);
  const [first] = result.refreshes;
  assert.deepEqual(first!.levels.map((level) => level.dirtyHours), [28, 28, 28]);
});

test('a level added later is built over the existing history', async () => {
  const database = 'rollups_later';
  const base = rollupConfig(database);
  const onlyHour = { ...base, aggregator: { ...base.aggregator, pipelines: [{ ...base.aggregator.pipelines[0]!, rollups: [{ level: '1h' as const, retentionDays: 0 }] }] } };
  await migrate(chdb.connection, onlyHour);
  await runRollupScenario(chdb.connection, database); // migrates 1m and 1d in, then proves all three
  const [{ n }] = chdb.rows<{ n: number }>(`SELECT count() AS n FROM ${database}.agg_main_1m FINAL`) as [{ n: number }];
  assert.ok(n > 0);
});

function withCapabilities(connection: ClickHouseConnection, supportsTtl: boolean): ClickHouseConnection {
  const capabilities = { ...connection.capabilities, supportsTtl };
  return new Proxy(connection, { get: (target, key) => (key === 'capabilities' ? capabilities : Reflect.get(target, key)) });
}

/** Four windows, 10, 7, 2 and 0.96 days before `now`: a 5-day retention keeps the last two. */
async function retentionFixture(database: string, retentionDays: number, now: number) {
  const base = rollupConfig(database);
  const pipeline = { ...base.aggregator.pipelines[0]!, retentionDays, rollups: [{ level: '1h' as const, retentionDays: 0 }] };
  const config = { ...base, aggregator: { ...base.aggregator, pipelines: [pipeline] } };
  await migrate(chdb.connection, config);
  const starts = [now - 10 * DAY, now - 7 * DAY, now - 2 * DAY, now - DAY + 3_600_000];
  chdb.rows(
    `INSERT INTO ${database}.agg_main (tenant, device, metric, window_start_ms, window_end_ms, count, version) VALUES ` +
      starts.map((start) => `('acme', 'd1', 'temp', ${start}, ${start + 1000}, 1, 1)`).join(', '),
  );
  const kept = () => chdb.rows<{ window_start_ms: number }>(`SELECT window_start_ms FROM ${database}.agg_main ORDER BY window_start_ms`).map((row) => Number(row.window_start_ms));
  return { config, starts, kept };
}

test('retention without TTL (18.16): expired day partitions are dropped, recent ones stay; a dry run changes nothing; a rerun finds nothing', async () => {
  const now = SCENARIO_START + 10 * DAY; // 2023-11-24 22:00 UTC
  const { config, starts, kept } = await retentionFixture('retention_drop', 5, now);
  const connection = withCapabilities(chdb.connection, false);
  const dry = await applyRetention(connection, config, { now: () => now, dryRun: true });
  assert.equal(dry.mechanism, 'partition-drop');
  assert.deepEqual(dry.actions, [
    { kind: 'drop-partition', table: 'agg_main', partition: '20231114' },
    { kind: 'drop-partition', table: 'agg_main', partition: '20231117' },
  ]);
  assert.deepEqual(kept(), starts);
  await applyRetention(connection, config, { now: () => now });
  assert.deepEqual(kept(), starts.slice(2));
  assert.deepEqual((await applyRetention(connection, config, { now: () => now })).actions, []);
});

test('retention with TTL (current engines): the TTL follows the configuration, old rows go at merge, recent ones stay', async () => {
  // The server's TTL counts from its own clock.
  const { config, starts, kept } = await retentionFixture('retention_ttl', 5, Date.now());
  const report = await applyRetention(chdb.connection, config);
  assert.equal(report.mechanism, 'ttl');
  assert.deepEqual(report.actions, [{ kind: 'ttl', table: 'agg_main', from: 0, to: 5 }]);
  chdb.rows('OPTIMIZE TABLE retention_ttl.agg_main FINAL');
  assert.deepEqual(kept(), starts.slice(2));
  assert.deepEqual((await applyRetention(chdb.connection, config)).actions, [], 'applying again changes nothing');
  const changed = { ...config, aggregator: { ...config.aggregator, pipelines: [{ ...config.aggregator.pipelines[0]!, retentionDays: 0 }] } };
  assert.deepEqual((await applyRetention(chdb.connection, changed)).actions, [{ kind: 'ttl', table: 'agg_main', from: 5, to: 0 }]);
  const [{ query }] = chdb.rows<{ query: string }>(`SELECT create_table_query AS query FROM system.tables WHERE database = ${sqlString('retention_ttl')} AND name = 'agg_main'`) as [{ query: string }];
  assert.equal(ttlDaysOf(query), 0);
});

test('the rollup tables have retention of their own', () => {
  const rollups = pipelineRollups('agg_x', 3, [{ level: '1h', retentionDays: 30 }, { level: '1d', retentionDays: 0 }]);
  assert.deepEqual(rollups.levels.map((level) => [level.table, level.retentionDays]), [['agg_x_1h', 30], ['agg_x_1d', 0]]);
});
