import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { connectClickHouse, type ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { migrate } from '../../src/clickhouse/migrations.ts';
import { ClickHouseSink, createClickHouseSink } from '../../src/clickhouse/sink.ts';
import { createCheckpointStore } from '../../src/clickhouse/checkpoints.ts';
import { Auditor, exampleQueries } from '../../src/clickhouse/audit.ts';
import { ClickHouseQueryError, ClickHouseTimeoutError, ClickHouseUnavailableError } from '../../src/clickhouse/errors.ts';
import { insertRetryPolicy, type InsertRetryEvent } from '../../src/clickhouse/insert.ts';
import { AGGREGATE_COLUMNS, ROW_FORMAT, encodeAggregateRow, encodeBatch } from '../../src/clickhouse/encode.ts';
import { sqlString, sqlTable } from '../../src/clickhouse/sql.ts';
import type { EmittedAggregateRow, RawReadingRow } from '../../src/core/rows.ts';
import { RetriesExhaustedError } from '../../src/util/retry.ts';
import { eventually } from '../../src/stack/services.ts';
import { ScratchDatabases } from '../support/scratch-database.ts';

/**
 * Against a real ClickHouse (the stack's 18.16 by default; TP_CLICKHOUSE__URL overrides), in a
 * database of its own that is dropped at the end (test/support/scratch-database.ts). Nothing is skipped: a server that does not
 * answer fails the run with a message saying so.
 */

const scratch = new ScratchDatabases();
const database = scratch.name('clickhouse');
let config: Config;
let connection: ClickHouseConnection;

before(async () => {
  config = loadConfig({
    overrides: {
      clickhouse: { database, insertMaxAttempts: 3, insertMaxElapsedMs: 10_000 },
      aggregator: {
        pipelines: [
          {
            name: 'main',
            guarantee: 'exactly-once',
            window: { kind: 'tumbling', sizeMs: 5000 },
            watermark: { kind: 'fixed', delayMs: 1000 },
            latePolicy: { kind: 'drop' },
          },
        ],
      },
    },
  });
  connection = await scratch.connect(config.clickhouse);
});

after(() => scratch.dropAll());

const W = 1_700_000_000_000;

function aggregate(overrides: Partial<EmittedAggregateRow>): EmittedAggregateRow {
  return {
    pipeline: 'main',
    tenant: 'acme',
    device: 'd1',
    metric: 'temp',
    windowStart: W,
    windowEnd: W + 5000,
    count: 1,
    sum: 20,
    min: 20,
    max: 20,
    first: 20,
    last: 20,
    firstTime: W + 100,
    lastTime: W + 100,
    p50: 20,
    lateReadings: 0,
    maxIngestTime: W + 150,
    partition: 0,
    version: 1,
    emittedAt: W + 6000,
    ...overrides,
  };
}

function raw(device: string, readingId: string, overrides: Partial<RawReadingRow> = {}): RawReadingRow {
  return {
    tenant: 'acme',
    device,
    readingId,
    metric: 'temp',
    value: 20,
    eventTime: W + 100,
    ingestTime: W + 150,
    partition: 0,
    offset: 1,
    ...overrides,
  };
}

test('migrate creates the schema once and is idempotent', async () => {
  const first = await migrate(connection, config);
  assert.deepEqual(first.applied, ['0001_readings_raw', '0002_checkpoints', '0003_aggregates:agg_main']);
  const second = await migrate(connection, config);
  assert.deepEqual(second.applied, []);
  assert.deepEqual(second.alreadyApplied, first.applied);
  const tables = await connection.query<{ name: string }>(
    `SELECT name FROM system.tables WHERE database = ${sqlString(database)} ORDER BY name`,
  );
  assert.deepEqual(tables.map((table) => table.name), ['agg_main', 'checkpoints', 'readings_raw', 'schema_migrations']);
});

test('the server version is detected and newer features are gated on it', () => {
  const { capabilities } = connection;
  assert.match(capabilities.version, /^\d+\.\d+/);
  if (capabilities.major < 20) {
    assert.equal(capabilities.supportsInsertDeduplicationToken, false);
    assert.equal(capabilities.supportsNonReplicatedDeduplication, false);
  }
});

test('string literals round-trip through the server unchanged', async () => {
  for (const value of ["it's", 'back\\slash', 'line\nbreak\ttab\r', '\u0001\u007f', 'température ✓ 😀', "'; DROP TABLE x; --"]) {
    const [row] = await connection.query<{ v: string }>(`SELECT ${sqlString(value)} AS v`);
    assert.equal(row?.v, value);
  }
});

test('the same batch twice plus a higher version: FINAL shows one row with the highest version', async () => {
  const retries: InsertRetryEvent[] = [];
  const sink = createClickHouseSink(connection, config, { onRetry: (event) => retries.push(event) });
  const batch = [aggregate({ version: 1, count: 1 }), aggregate({ device: 'd2', version: 1 })];
  await sink.insertAggregates('agg_main', batch);
  await sink.insertAggregates('agg_main', batch);
  await sink.insertAggregates('agg_main', [aggregate({ version: 2, count: 2, sum: 41, max: 21, last: 21 })]);
  assert.equal(retries.length, 0);

  const final = await connection.query<Record<string, unknown>>(
    `SELECT device, version, count, sum, window_start FROM ${sqlTable(database, 'agg_main')} FINAL ORDER BY device`,
  );
  assert.deepEqual(
    final.map((row) => [row['device'], Number(row['version']), Number(row['count']), row['sum'], row['window_start']]),
    [
      ['d1', 2, 2, 41, '2023-11-14 22:13:20'],
      ['d2', 1, 1, 20, '2023-11-14 22:13:20'],
    ],
  );
  const auditor = new Auditor(connection, database);
  assert.equal((await auditor.duplicateAggregateKeys('agg_main')).total, 0);

  const argMax = exampleQueries(database, 'agg_main', 'acme')[1]!;
  const latest = await connection.query<Record<string, unknown>>(argMax.sql);
  assert.deepEqual(latest.map((row) => [row['device'], Number(row['latest_version']), Number(row['readings'])]).sort(), [
    ['d1', 2, 2],
    ['d2', 1, 1],
  ]);
  for (const example of exampleQueries(database, 'agg_main', 'acme')) {
    assert.ok((await connection.query(example.sql)).length > 0, example.title);
  }
});

test('the audit balances readings against counts and names lost and double-counted readings', async () => {
  const sink = createClickHouseSink(connection, config);
  const auditor = new Auditor(connection, database);
  const scope = { tenant: 'audit' };
  const readings = ['a1', 'a2', 'a3'].map((id, offset) => ({ ...raw('s1', id, { offset }), tenant: 'audit' }));
  await sink.insertRawReadings(readings);
  await sink.insertRawReadings([readings[0]!]); // a redelivery
  await sink.insertAggregates('agg_main', [aggregate({ tenant: 'audit', device: 's1', count: 3, version: 3 })]);

  assert.deepEqual(await auditor.readingsBalance('agg_main', scope), {
    acceptedValues: 3,
    acceptedReadings: 3,
    countedValues: 3,
    expectedCountedValues: 3,
    difference: 0,
  });
  assert.equal((await auditor.duplicateRawReadings(scope)).total, 0);
  assert.equal((await auditor.miscountedSeries('agg_main', scope)).total, 0);

  const expected = readings.map((reading) => ({ tenant: 'audit', device: 's1', readingId: reading.readingId }));
  const lost = await auditor.missingReadings([...expected, { tenant: 'audit', device: 's1', readingId: 'never-arrived' }]);
  assert.deepEqual({ total: lost.total, expected: lost.expected, sample: lost.sample }, {
    total: 1,
    expected: 4,
    sample: [{ tenant: 'audit', device: 's1', readingId: 'never-arrived' }],
  });

  await sink.insertAggregates('agg_main', [aggregate({ tenant: 'audit', device: 's1', metric: 'hum', count: 1, version: 1 })]);
  const miscounted = await auditor.miscountedSeries('agg_main', scope);
  assert.deepEqual(miscounted.sample, [{ tenant: 'audit', device: 's1', metric: 'hum', countedValues: 1, acceptedValues: 0 }]);
  assert.equal((await auditor.readingsBalance('agg_main', scope)).difference, 1);
});

test('a checkpoint is loaded back by its exact offset, and pruning keeps the newest', async () => {
  const store = createCheckpointStore(connection, config);
  await store.save('main', 3, 1000, '{"state":"at 1000"}');
  await store.save('main', 3, 2000, '{"state":"at 2000"}');
  assert.equal(await store.load('main', 3, 1000), '{"state":"at 1000"}');
  assert.equal(await store.load('main', 3, 1500), null);
  const latest = await store.latest('main', 3);
  assert.equal(latest?.offset, 2000);
  assert.equal(latest?.state, '{"state":"at 2000"}');

  assert.equal(await store.prune('main', 3, 1), 2000);
  // The prune is an ALTER DELETE mutation, which the server applies in the background.
  await eventually('the ALTER DELETE mutation removed the older checkpoint', async () => ((await store.load('main', 3, 1000)) === null ? true : undefined), 10_000, 50);
  assert.equal(await store.load('main', 3, 2000), '{"state":"at 2000"}');
});

test('a timed-out insert surfaces as the retriable unknown-outcome error; retrying the identical batch is safe', async () => {
  const rows = Array.from({ length: 20_000 }, (_, i) => aggregate({ tenant: 'timeout', device: `t${i}`, version: 1 }));
  const body = encodeBatch(rows, 0, rows.length, encodeAggregateRow);
  const target = sqlTable(database, 'agg_main');
  await assert.rejects(connection.insert(target, AGGREGATE_COLUMNS, body, { timeoutMs: 1, format: ROW_FORMAT }), (error: unknown) => {
    assert.ok(error instanceof ClickHouseTimeoutError, String(error));
    assert.equal(error.code, 'CLICKHOUSE_TIMEOUT');
    assert.equal(error.retriable, true);
    assert.equal(error.outcome, 'unknown');
    return true;
  });

  const retries: InsertRetryEvent[] = [];
  const impatient = new ClickHouseSink(connection, {
    database,
    maxRowsPerInsert: 50_000,
    retryPolicy: { ...insertRetryPolicy(config.clickhouse), maxAttempts: 2, initialDelayMs: 10 },
    attemptTimeoutMs: 1,
    onRetry: (event) => retries.push(event),
  });
  await assert.rejects(impatient.insertAggregates('agg_main', rows), (error: unknown) => {
    assert.ok(error instanceof RetriesExhaustedError);
    assert.ok(error.cause instanceof ClickHouseTimeoutError);
    return true;
  });
  assert.equal(retries.length, 1);
  assert.ok(retries[0]?.error instanceof ClickHouseTimeoutError);

  // The caller retries the identical batch; whatever the timed-out attempts wrote collapses.
  await createClickHouseSink(connection, config).insertAggregates('agg_main', rows);
  const [counts] = await connection.query<Record<string, unknown>>(
    `SELECT count() AS windows, sum(count) AS readings FROM ${target} FINAL WHERE tenant = 'timeout'`,
  );
  assert.deepEqual([Number(counts?.['windows']), Number(counts?.['readings'])], [20_000, 20_000]);
  assert.equal((await new Auditor(connection, database).duplicateAggregateKeys('agg_main', { tenant: 'timeout' })).total, 0);
});

test('a refused statement is a non-retriable query error with the server code; an absent server is unavailable', async () => {
  await assert.rejects(connection.query('SELECT no_such_column FROM system.one'), (error: unknown) => {
    assert.ok(error instanceof ClickHouseQueryError);
    assert.equal(error.retriable, false);
    assert.equal(error.serverCode, 47);
    return true;
  });
  await assert.rejects(connectClickHouse({ ...config.clickhouse, url: 'http://127.0.0.1:1' }), (error: unknown) => {
    assert.ok(error instanceof ClickHouseUnavailableError);
    assert.equal(error.retriable, true);
    assert.equal(error.outcome, 'not-sent');
    return true;
  });
});

test('18.16 reads TabSeparated rows and checkpoints back byte for byte, whatever their strings hold', async () => {
  const awkward = ['tab\there', 'new\nline', 'cr\rhere', 'back\\slash', 'nul\0byte', 'quote"s \'both\'', 'température ✓', '\\t literal', ''];
  const sink = createClickHouseSink(connection, config);
  await sink.insertRawReadings(awkward.map((text, i) => raw(`tsv${i}`, text, { tenant: 'tsv', metric: text, value: -1.5e-7 * (i + 1), offset: i })));
  await sink.insertAggregates('agg_main', awkward.map((text, i) => aggregate({ tenant: 'tsv', device: text, metric: `m${i}`, sum: 1e21 + i, p50: -0.25 })));
  const rawBack = await connection.query<{ reading_id: string; metric: string; value: number }>(
    `SELECT reading_id, metric, value FROM ${sqlTable(database, 'readings_raw')} FINAL WHERE tenant = 'tsv' ORDER BY kafka_offset`,
  );
  assert.deepEqual(rawBack.map((row) => [row.reading_id, row.metric, row.value]), awkward.map((text, i) => [text, text, -1.5e-7 * (i + 1)]));
  const aggBack = await connection.query<{ device: string; sum: number; p50: number }>(
    `SELECT device, sum, p50 FROM ${sqlTable(database, 'agg_main')} FINAL WHERE tenant = 'tsv' ORDER BY metric`,
  );
  assert.deepEqual(aggBack.map((row) => [row.device, row.sum, row.p50]), awkward.map((text, i) => [text, 1e21 + i, -0.25]));

  const store = createCheckpointStore(connection, config);
  const states = awkward.map((text, i) => ({ partition: 100 + i, offset: 10 + i, state: JSON.stringify({ device: text, i }) }));
  await store.saveAll('tsv', states);
  for (const { partition, offset, state } of states) assert.equal(await store.load('tsv', partition, offset), state);
});
