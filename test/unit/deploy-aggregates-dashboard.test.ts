import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import { migrate, schemaLayout } from '../../src/clickhouse/migrations.ts';
import { refreshRollups } from '../../src/clickhouse/rollups.ts';
import { sqlTable } from '../../src/clickhouse/sql.ts';
import { CLICKHOUSE_18_16 } from '../../src/clickhouse/capabilities.ts';
import { branches, LONG_RANGE_MS, SHORT_RANGE_MS } from '../../deploy/grafana/aggregates-dashboard.ts';
import { aggregatesQueries, checkAggregatesDashboard, grafanaSqlForTest, readAggregatesDashboard } from '../../deploy/validate/aggregates-dashboard.ts';
import { openChdb, type ChdbHarness } from './clickhouse-chdb.ts';

/**
 * The committed aggregates dashboard (deploy/grafana/aggregates.json): its queries run in chdb
 * against the schema of the example configuration, and each range is answered by the table meant
 * for it with the same totals as the aggregate table.
 */

const root = join(fileURLToPath(import.meta.url), '../../..');
const DAY = 86_400_000;
const database = 'dash';
let chdb: ChdbHarness;
before(async () => {
  chdb = await openChdb();
});
after(() => chdb.close());

test('the validator refuses a query on a table the schema lacks, another data source, or no time filter', () => {
  const layout = { aggregateTables: ['agg_main'], rollups: [] };
  const panel = (rawSql: string, type = 'grafana-clickhouse-datasource') => ({ type: 'timeseries', title: 'p', targets: [{ refId: 'A', rawSql, datasource: { type } }] });
  const good = 'SELECT 1 FROM ${database}.agg_main FINAL WHERE $__timeFilter(window_start)';
  assert.deepEqual(checkAggregatesDashboard({ uid: 'u', schemaVersion: 39, panels: [panel(good)] }, layout), []);
  const problems = checkAggregatesDashboard(
    { uid: 'u', schemaVersion: 39, panels: [panel(good.replace('agg_main', 'agg_main_1h')), panel(good, 'prometheus'), panel('SELECT 1 FROM ${database}.agg_main')] },
    layout,
  );
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(problems.join('\n'), /agg_main_1h is not in the schema/);
  assert.match(problems.join('\n'), /data source prometheus/);
  assert.match(problems.join('\n'), /no \$__timeFilter/);
});

test('every range is answered by exactly one table: the aggregate table, then the hour, then the day rollup', () => {
  const chosen = (rangeMs: number, levels: ('1h' | '1d')[]) =>
    branches('agg_main', levels).filter((branch) => {
      const condition = branch.when.replace(/\(\$__to - \$__from\)/g, String(rangeMs));
      return new Function(`return ${condition.replace(/ AND /g, ' && ')};`)() as boolean;
    }).map((branch) => branch.table);
  for (const rangeMs of [60_000, SHORT_RANGE_MS, SHORT_RANGE_MS + 1, 7 * DAY, LONG_RANGE_MS, LONG_RANGE_MS + 1, 365 * DAY]) {
    const both = chosen(rangeMs, ['1h', '1d']);
    assert.equal(both.length, 1, `range ${rangeMs}: ${both.join(', ')}`);
    assert.equal(both[0], rangeMs <= SHORT_RANGE_MS ? 'agg_main' : rangeMs <= LONG_RANGE_MS ? 'agg_main_1h' : 'agg_main_1d');
    for (const levels of [[], ['1h'], ['1d']] as ('1h' | '1d')[][]) assert.equal(chosen(rangeMs, levels).length, 1, `range ${rangeMs}, levels ${levels.join(',')}`);
  }
});

test('the committed dashboard: every query runs in chdb and, at short, long and very long ranges, totals what agg FINAL holds', async () => {
  const config = loadConfig({ file: join(root, 'deploy/config/pipeline.example.yaml'), env: {}, overrides: { clickhouse: { database } } });
  await migrate(chdb.connection, config);
  const layout = schemaLayout(config, CLICKHOUSE_18_16);
  const dashboard = readAggregatesDashboard(root);
  assert.deepEqual(checkAggregatesDashboard(dashboard, layout), []);
  // Two days of 10-minute windows ending at a UTC midnight, so hour and day buckets lie wholly inside.
  const end = Date.UTC(2024, 2, 3);
  const starts = Array.from({ length: 2 * 144 }, (_, index) => end - 2 * DAY + index * 600_000);
  await chdb.connection.command(
    `INSERT INTO ${sqlTable(database, 'agg_main')} (tenant, device, metric, window_start_ms, window_end_ms, count, sum, min, max, version) VALUES ` +
      starts.map((start, index) => `('acme', 'd1', 'temp', ${start}, ${start + 600_000}, ${1 + (index % 5)}, ${index}, 0, 9, 1)`).join(', '),
  );
  for (const rollups of layout.rollups ?? []) await refreshRollups(chdb.connection, database, rollups, { now: () => end });
  const total = (fromMs: number, toMs: number) =>
    starts.reduce((sum, start, index) => (start >= fromMs && start < toMs ? sum + 1 + (index % 5) : sum), 0);

  const readings = aggregatesQueries(dashboard).filter((query) => query.where.startsWith("panel 'Readings per bucket") && query.sql.includes('agg_main'));
  assert.ok(readings.length > 0, 'a readings panel for agg_main');
  for (const query of aggregatesQueries(dashboard)) {
    for (const rangeMs of [SHORT_RANGE_MS, 7 * DAY, LONG_RANGE_MS + DAY]) {
      const sql = grafanaSqlForTest(query.sql, { database, fromMs: end - rangeMs, toMs: end - 1000 });
      assert.doesNotThrow(() => chdb.rows(sql), `${query.where} at range ${rangeMs}`);
    }
  }
  for (const rangeMs of [SHORT_RANGE_MS, 7 * DAY, LONG_RANGE_MS + DAY]) {
    const sql = grafanaSqlForTest(readings[0]!.sql, { database, fromMs: end - rangeMs, toMs: end - 1000 });
    const sum = chdb.rows<{ value: number | string }>(sql).reduce((acc, row) => acc + Number(row.value), 0);
    assert.equal(sum, total(end - rangeMs, end), `readings over the last ${rangeMs} ms`);
  }
});
