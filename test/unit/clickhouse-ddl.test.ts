import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import { usesDeduplicationToken } from '../../src/clickhouse/capabilities.ts';
import {
  createAggregatesStatement,
  migrate,
  schemaStatements,
  type SchemaLayout,
} from '../../src/clickhouse/migrations.ts';
import { ClickHouseSink } from '../../src/clickhouse/sink.ts';
import { ClickHouseCheckpointStore } from '../../src/clickhouse/checkpoints.ts';
import { Auditor, exampleQueries } from '../../src/clickhouse/audit.ts';
import { sqlString, sqlTable } from '../../src/clickhouse/sql.ts';
import type { EmittedAggregateRow, RawReadingRow } from '../../src/core/rows.ts';
import type { RetryPolicy } from '../../src/util/retry.ts';
import { openChdb, type ChdbHarness } from './clickhouse-chdb.ts';

/**
 * The adapter's DDL and audit SQL, run verbatim on a current ClickHouse engine (chdb, in-process).
 * The integration test runs the same code against the 18.16 server.
 */

let chdb: ChdbHarness;
before(async () => {
  chdb = await openChdb();
});
after(() => chdb.close());

const noRetry: RetryPolicy = { maxAttempts: 1, initialDelayMs: 1, maxDelayMs: 1, maxElapsedMs: 1000 };
const W = 1_700_000_000_000; // a window start (5 s tumbling windows)
const pipelineConfig = (database: string, pipelines: string[]) =>
  parseConfig({
    clickhouse: { database },
    aggregator: {
      pipelines: pipelines.map((name) => ({
        name,
        guarantee: 'exactly-once',
        window: { kind: 'tumbling', sizeMs: 5000 },
        watermark: { kind: 'fixed', delayMs: 1000 },
        latePolicy: { kind: 'drop' },
      })),
    },
  });

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

test('chdb runs a current ClickHouse engine that supports insert deduplication tokens', () => {
  const { capabilities } = chdb.connection;
  assert.ok(capabilities.major >= 22, `chdb engine ${capabilities.version}`);
  assert.equal(usesDeduplicationToken(capabilities), true);
});

test('string literals formatted by sqlString read back unchanged', async () => {
  for (const value of ["it's", 'back\\slash', 'line\nbreak\ttab\r\0', '\u0001\u007f', 'température ✓ 😀', "'; DROP TABLE x; --"]) {
    const [row] = await chdb.connection.query<{ v: string }>(`SELECT ${sqlString(value)} AS v`);
    assert.equal(row?.v, value);
  }
});

for (const deduplicationWindow of [false, true]) {
  const variant = deduplicationWindow ? 'current-server' : '18.16';
  test(`every DDL statement of the ${variant} variant runs verbatim, twice`, () => {
    const layout: SchemaLayout = { database: `ddl_${deduplicationWindow ? 'new' : 'old'}`, aggregateTables: ['agg_main', 'agg_alt'], deduplicationWindow };
    const statements = schemaStatements(layout);
    for (let round = 0; round < 2; round++) for (const statement of statements) chdb.rows(statement);
    const tables = chdb.rows<{ name: string; engine: string; create_table_query: string }>(
      `SELECT name, engine, create_table_query FROM system.tables WHERE database = ${sqlString(layout.database)} ORDER BY name`,
    );
    assert.deepEqual(
      tables.map((table) => `${table.name}:${table.engine}`),
      ['agg_alt:ReplacingMergeTree', 'agg_main:ReplacingMergeTree', 'checkpoints:ReplacingMergeTree', 'readings_raw:ReplacingMergeTree', 'schema_migrations:ReplacingMergeTree'],
    );
    const aggMain = tables.find((table) => table.name === 'agg_main')!;
    assert.equal(aggMain.create_table_query.includes('non_replicated_deduplication_window'), deduplicationWindow);
    const materialized = chdb.rows<{ name: string }>(
      `SELECT name FROM system.columns WHERE database = ${sqlString(layout.database)} AND table = 'agg_main' AND default_kind = 'MATERIALIZED' ORDER BY name`,
    );
    assert.deepEqual(materialized.map((column) => column.name), ['window_end', 'window_start']);
  });
}

test('migrate applies each migration once, records it, and adds a new pipeline table later', async () => {
  const first = await migrate(chdb.connection, pipelineConfig('mig', ['main']));
  assert.deepEqual(first.applied, ['0001_readings_raw', '0002_checkpoints', '0003_aggregates:agg_main']);
  const again = await migrate(chdb.connection, pipelineConfig('mig', ['main']));
  assert.deepEqual(again.applied, []);
  assert.equal(again.alreadyApplied.length, 3);
  const withSecond = await migrate(chdb.connection, pipelineConfig('mig', ['main', 'second']));
  assert.deepEqual(withSecond.applied, ['0003_aggregates:agg_second']);
  const recorded = chdb.rows<{ id: string }>('SELECT id FROM mig.schema_migrations FINAL ORDER BY id');
  assert.equal(recorded.length, 4);
});

test('FINAL keeps one row per window, the highest version; identical retried batches are dropped by token', async () => {
  await migrate(chdb.connection, pipelineConfig('sinkdb', ['main']));
  const sink = new ClickHouseSink(chdb.connection, { database: 'sinkdb', maxRowsPerInsert: 2, retryPolicy: noRetry });
  const rows = [
    aggregate({ version: 1, count: 1 }),
    aggregate({ version: 3, count: 3, sum: 61, max: 21 }),
    aggregate({ version: 2, count: 2 }),
    aggregate({ device: 'd2', version: 1 }),
  ];
  const report = await sink.insertAggregates('agg_main', rows);
  assert.deepEqual({ rows: report.rows, batches: report.batches, attempts: report.attempts }, { rows: 4, batches: 2, attempts: 2 });
  const storedRows = (): number => chdb.rows<{ n: number }>('SELECT count() AS n FROM sinkdb.agg_main')[0]!.n;
  const afterFirst = storedRows();
  await sink.insertAggregates('agg_main', rows); // a replay: same rows, same batches, same bytes
  assert.equal(storedRows(), afterFirst, 'the replayed batches carried the same deduplication tokens and were dropped');
  const final = chdb.rows<{ device: string; version: number; count: number; sum: number }>(
    'SELECT device, version, count, sum FROM sinkdb.agg_main FINAL ORDER BY device',
  );
  assert.deepEqual(final, [
    { device: 'd1', version: 3, count: 3, sum: 61 },
    { device: 'd2', version: 1, count: 1, sum: 20 },
  ]);
  const [{ window_start }] = chdb.rows<{ window_start: string }>("SELECT window_start FROM sinkdb.agg_main FINAL WHERE device = 'd1'") as [{ window_start: string }];
  assert.equal(window_start, '2023-11-14 22:13:20');

  const [latest] = exampleQueries('sinkdb', 'agg_main', 'acme');
  const viaFinal = await chdb.connection.query<{ device: string; version: number }>(latest!.sql);
  assert.deepEqual(viaFinal.map((row) => [row.device, row.version]).sort(), [['d1', 3], ['d2', 1]]);
  for (const example of exampleQueries('sinkdb', 'agg_main', 'acme')) {
    const result = await chdb.connection.query(example.sql);
    assert.ok(result.length > 0, example.title);
  }
});

test('the audit passes on consistent data and finds planted faults', async () => {
  const database = 'auditdb';
  await migrate(chdb.connection, pipelineConfig(database, ['main']));
  const sink = new ClickHouseSink(chdb.connection, { database, maxRowsPerInsert: 1000, retryPolicy: noRetry });
  const auditor = new Auditor(chdb.connection, database);
  const d1Readings = ['r1', 'r2', 'r3', 'r4'].map((id, index) => raw('d1', id, { offset: index }));
  await sink.insertRawReadings([...d1Readings, raw('d1', 'r1', { ingestTime: W + 999, offset: 9 })]); // r1 redelivered
  await sink.insertAggregates('agg_main', [aggregate({ count: 4, version: 4 })]);

  const expected = d1Readings.map((reading) => ({ tenant: 'acme', device: 'd1', readingId: reading.readingId }));
  assert.deepEqual((await auditor.duplicateAggregateKeys('agg_main')).total, 0);
  assert.deepEqual((await auditor.duplicateRawReadings()).total, 0);
  assert.deepEqual(await auditor.readingsBalance('agg_main'), {
    acceptedValues: 4,
    acceptedReadings: 4,
    countedValues: 4,
    expectedCountedValues: 4,
    difference: 0,
  });
  assert.equal((await auditor.miscountedSeries('agg_main')).total, 0);
  const clean = await auditor.missingReadings([...expected, expected[0]!]);
  assert.deepEqual({ total: clean.total, expected: clean.expected }, { total: 0, expected: 4 });

  // Planted: an acknowledged reading that never arrived.
  const lost = await auditor.missingReadings([...expected, { tenant: 'acme', device: 'd1', readingId: 'r5' }]);
  assert.deepEqual({ total: lost.total, expected: lost.expected, sample: lost.sample }, {
    total: 1,
    expected: 5,
    sample: [{ tenant: 'acme', device: 'd1', readingId: 'r5' }],
  });

  // Planted: device d2 has one accepted reading but its window counts two (a reading counted twice).
  await sink.insertRawReadings([raw('d2', 'x1')]);
  await sink.insertAggregates('agg_main', [aggregate({ device: 'd2', count: 2, version: 2 })]);
  const miscounted = await auditor.miscountedSeries('agg_main');
  assert.deepEqual(miscounted, {
    total: 1,
    sample: [{ tenant: 'acme', device: 'd2', metric: 'temp', countedValues: 2, acceptedValues: 1 }],
  });
  assert.equal((await auditor.readingsBalance('agg_main')).difference, 1);
  assert.equal((await auditor.readingsBalance('agg_main', { tenant: 'acme', fromMs: W, toMs: W + 5000 })).difference, 1);
  assert.equal((await auditor.readingsBalance('agg_main', { tenant: 'other' })).acceptedValues, 0);

  // Planted: a table whose sort key forgot the window key's uniqueness keeps duplicates under FINAL.
  const planted = createAggregatesStatement({ database, aggregateTables: [], deduplicationWindow: false }, 'agg_planted').replace(
    'ORDER BY (tenant, device, metric, window_start_ms)',
    'ORDER BY (tenant, device, metric, window_start_ms, version)',
  );
  chdb.rows(planted);
  await sink.insertAggregates('agg_planted', [aggregate({ version: 1 }), aggregate({ version: 2 }), aggregate({ device: 'd9' })]);
  const duplicates = await auditor.duplicateAggregateKeys('agg_planted');
  assert.deepEqual(duplicates, { total: 1, sample: [{ tenant: 'acme', device: 'd1', metric: 'temp', windowStart: W, copies: 2 }] });
});

test('checkpoints load by exact offset only; the newest save at an offset wins; prune keeps the last N', async () => {
  const database = 'cpdb';
  await migrate(chdb.connection, pipelineConfig(database, ['main']));
  let clock = 1000;
  const store = new ClickHouseCheckpointStore(chdb.connection, { database, retryPolicy: noRetry, now: () => clock++ });
  await store.save('main', 0, 100, '{"windows":1}');
  await store.save('main', 0, 200, '{"windows":2}');
  await store.save('main', 0, 200, '{"windows":2,"again":true}');
  await store.save('main', 1, 150, 'p1');
  await store.save('other', 0, 300, 'other pipeline');

  assert.equal(await store.load('main', 0, 100), '{"windows":1}');
  assert.equal(await store.load('main', 0, 150), null, 'no neighbour is ever returned');
  assert.equal(await store.load('main', 0, 200), '{"windows":2,"again":true}');
  assert.deepEqual(await store.latest('main', 0), { offset: 200, state: '{"windows":2,"again":true}', createdAt: 1002 });
  assert.equal(await store.latest('main', 7), null);

  assert.equal(await store.prune('main', 0, 1), 200);
  await waitForMutations(database);
  assert.equal(await store.load('main', 0, 100), null);
  assert.equal(await store.load('main', 0, 200), '{"windows":2,"again":true}');
  assert.equal(await store.load('main', 1, 150), 'p1');
  assert.equal(await store.prune('main', 1, 5), null);
});

async function waitForMutations(database: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [pending] = chdb.rows<{ n: number }>(`SELECT count() AS n FROM system.mutations WHERE database = ${sqlString(database)} AND is_done = 0`);
    if (pending?.n === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`mutations in ${sqlTable(database, 'checkpoints')} did not finish`);
}

/** Strings TabSeparated must escape (and some it must not touch), as device ids and snapshots may hold them. */
const AWKWARD = ['tab\there', 'new\nline', 'cr\rhere', 'back\\slash', 'nul\0byte', 'quote"s \'both\'', 'température ✓', '\\t literal', ''];

test('TabSeparated rows and checkpoints read back byte for byte, whatever their strings hold', async () => {
  const database = 'tsvdb';
  await migrate(chdb.connection, pipelineConfig(database, ['main']));
  const sink = new ClickHouseSink(chdb.connection, { database, maxRowsPerInsert: 1000, retryPolicy: noRetry });
  await sink.insertRawReadings(AWKWARD.map((text, i) => raw(`d${i}`, text, { metric: text, value: -1.5e-7 * (i + 1), offset: i })));
  await sink.insertAggregates('agg_main', AWKWARD.map((text, i) => aggregate({ device: text, metric: `m${i}`, sum: 1e21 + i, p50: -0.25 })));
  const rawBack = chdb.rows<{ reading_id: string; metric: string; value: number }>(
    `SELECT reading_id, metric, value FROM ${database}.readings_raw FINAL ORDER BY kafka_offset`,
  );
  assert.deepEqual(rawBack.map((row) => [row.reading_id, row.metric, row.value]), AWKWARD.map((text, i) => [text, text, -1.5e-7 * (i + 1)]));
  const aggBack = chdb.rows<{ device: string; sum: number; p50: number }>(`SELECT device, sum, p50 FROM ${database}.agg_main FINAL ORDER BY metric`);
  assert.deepEqual(aggBack.map((row) => [row.device, row.sum, row.p50]), AWKWARD.map((text, i) => [text, 1e21 + i, -0.25]));

  const store = new ClickHouseCheckpointStore(chdb.connection, { database, retryPolicy: noRetry, now: () => 7 });
  const states = AWKWARD.map((text, partition) => ({ partition, offset: 100 + partition, state: JSON.stringify({ device: text, partition }) }));
  await store.saveAll('main', states);
  for (const { partition, offset, state } of states) assert.equal(await store.load('main', partition, offset), state);
});
