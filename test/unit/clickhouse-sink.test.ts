import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClickHouseSink } from '../../src/clickhouse/sink.ts';
import { CLICKHOUSE_18_16, capabilitiesFrom, type ServerCapabilities } from '../../src/clickhouse/capabilities.ts';
import type { ClickHouseConnection, RequestOptions } from '../../src/clickhouse/client.ts';
import { ClickHouseQueryError, ClickHouseTimeoutError } from '../../src/clickhouse/errors.ts';
import { deduplicationToken, type InsertRetryEvent } from '../../src/clickhouse/insert.ts';
import type { EmittedAggregateRow, RawReadingRow } from '../../src/core/rows.ts';
import { RetriesExhaustedError, type RetryPolicy } from '../../src/util/retry.ts';

/** Records every insert; fails the first `failures` attempts with the given error. */
function recordingConnection(capabilities: ServerCapabilities, failures: Error[] = []) {
  const inserts: { target: string; columns: readonly string[]; body: string; options: RequestOptions }[] = [];
  const connection: ClickHouseConnection = {
    url: 'recording',
    capabilities,
    async ping() {},
    async query() {
      return [];
    },
    async command() {},
    async insert(target, columns, body, options = {}) {
      inserts.push({ target, columns, body: body.toString(), options });
      const failure = failures.shift();
      if (failure) throw failure;
    },
    async close() {},
  };
  return { connection, inserts };
}

const fastPolicy: RetryPolicy = { maxAttempts: 4, initialDelayMs: 1, maxDelayMs: 2, maxElapsedMs: 5000 };
const modern = capabilitiesFrom('25.8', new Set(['insert_deduplication_token']), new Set(['non_replicated_deduplication_window']));

function rows(n: number): EmittedAggregateRow[] {
  return Array.from({ length: n }, (_, i) => ({
    pipeline: 'main',
    tenant: 'acme',
    device: `d${i}`,
    metric: 'temp',
    windowStart: 1_700_000_000_000,
    windowEnd: 1_700_000_005_000,
    count: 1,
    sum: i,
    min: i,
    max: i,
    first: i,
    last: i,
    firstTime: 1_700_000_000_001,
    lastTime: 1_700_000_000_001,
    p50: i,
    lateReadings: 0,
    maxIngestTime: 1_700_000_000_002,
    partition: 0,
    version: 1,
    emittedAt: 1_700_000_006_000,
  }));
}

const timeout = (): ClickHouseTimeoutError => new ClickHouseTimeoutError('no answer', {});

test('rows are split into batches of maxRowsPerInsert, in order, into the qualified table', async () => {
  const { connection, inserts } = recordingConnection(CLICKHOUSE_18_16);
  const sink = new ClickHouseSink(connection, { database: 'telemetry', maxRowsPerInsert: 2, retryPolicy: fastPolicy });
  const report = await sink.insertAggregates('agg_main', rows(5));
  assert.deepEqual({ rows: report.rows, batches: report.batches, attempts: report.attempts }, { rows: 5, batches: 3, attempts: 3 });
  assert.deepEqual(inserts.map((insert) => insert.body.split('\n').filter(Boolean).length), [2, 2, 1]);
  assert.equal(inserts[0]?.target, '`telemetry`.`agg_main`');
  assert.equal(inserts[0]?.columns.includes('window_start'), false, 'MATERIALIZED columns are never sent');
  assert.equal(report.bytes, inserts.reduce((total, insert) => total + Buffer.byteLength(insert.body), 0));
  assert.equal(inserts[0]?.options.settings, undefined, '18.16 gets no deduplication token');
});

test('a timed-out insert is retried with identical bytes and token, and each retry is reported', async () => {
  const { connection, inserts } = recordingConnection(modern, [timeout(), timeout()]);
  const retries: InsertRetryEvent[] = [];
  const sink = new ClickHouseSink(connection, {
    database: 'telemetry',
    maxRowsPerInsert: 100,
    retryPolicy: fastPolicy,
    onRetry: (event) => retries.push(event),
  });
  const report = await sink.insertAggregates('agg_main', rows(3));
  assert.equal(report.attempts, 3);
  assert.equal(inserts.length, 3);
  assert.equal(new Set(inserts.map((insert) => insert.body)).size, 1, 'every attempt sends the same bytes');
  const tokens = inserts.map((insert) => insert.options.settings?.['insert_deduplication_token']);
  assert.equal(new Set(tokens).size, 1);
  assert.equal(tokens[0], deduplicationToken('`telemetry`.`agg_main`', Buffer.from(inserts[0]!.body)));
  assert.deepEqual(retries.map((event) => [event.attempt, event.rows, (event.error as Error).constructor.name]), [
    [1, 3, 'ClickHouseTimeoutError'],
    [2, 3, 'ClickHouseTimeoutError'],
  ]);
});

test('the same rows give the same token; different rows a different one', () => {
  const body = Buffer.from('{"a":1}\n');
  assert.equal(deduplicationToken('`t`.`x`', body), deduplicationToken('`t`.`x`', Buffer.from('{"a":1}\n')));
  assert.notEqual(deduplicationToken('`t`.`x`', body), deduplicationToken('`t`.`x`', Buffer.from('{"a":2}\n')));
  assert.notEqual(deduplicationToken('`t`.`x`', body), deduplicationToken('`t`.`y`', body));
});

test('when the budget runs out the caller gets RetriesExhaustedError carrying the unknown-outcome timeout', async () => {
  const { connection, inserts } = recordingConnection(modern, [timeout(), timeout(), timeout(), timeout(), timeout()]);
  const sink = new ClickHouseSink(connection, { database: 'telemetry', maxRowsPerInsert: 100, retryPolicy: fastPolicy });
  await assert.rejects(sink.insertAggregates('agg_main', rows(1)), (error: unknown) => {
    assert.ok(error instanceof RetriesExhaustedError);
    assert.equal(error.attempts, 4);
    assert.ok(error.cause instanceof ClickHouseTimeoutError);
    assert.equal(error.cause.outcome, 'unknown');
    return true;
  });
  assert.equal(inserts.length, 4);
});

test('a refused statement is not retried', async () => {
  const refused = new ClickHouseQueryError('Code: 16. No such column', { serverCode: 16 });
  const { connection, inserts } = recordingConnection(CLICKHOUSE_18_16, [refused]);
  const retries: InsertRetryEvent[] = [];
  const sink = new ClickHouseSink(connection, { database: 'telemetry', maxRowsPerInsert: 100, retryPolicy: fastPolicy, onRetry: (event) => retries.push(event) });
  await assert.rejects(sink.insertRawReadings([
    { tenant: 't', device: 'd', readingId: 'r', metric: 'm', value: 1, eventTime: 1, ingestTime: 2, partition: 0, offset: 3 },
  ]), ClickHouseQueryError);
  assert.equal(inserts.length, 1);
  assert.equal(retries.length, 0);
  assert.equal(inserts[0]?.target, '`telemetry`.`readings_raw`');
});

test('an empty row list sends nothing', async () => {
  const { connection, inserts } = recordingConnection(modern);
  const sink = new ClickHouseSink(connection, { database: 'telemetry', maxRowsPerInsert: 10, retryPolicy: fastPolicy });
  assert.deepEqual(await sink.insertAggregates('agg_main', []), { rows: 0, batches: 0, attempts: 0, bytes: 0 });
  assert.equal(inserts.length, 0);
});

test('raw readings encoded as collected give the same batches, bytes and tokens as encoding the rows at insert', async () => {
  const readings: RawReadingRow[] = Array.from({ length: 2500 }, (_, i) => ({
    tenant: 'acme',
    device: i % 7 === 0 ? `température ✓ ${i}` : `d${i}`,
    readingId: `r\t${i}`,
    metric: 'temp',
    value: i / 3,
    eventTime: 1_700_000_000_000 + i,
    ingestTime: 1_700_000_000_100 + i,
    partition: i % 4,
    offset: i,
  }));
  const fromRows = recordingConnection(modern);
  await new ClickHouseSink(fromRows.connection, { database: 'telemetry', maxRowsPerInsert: 1000, retryPolicy: fastPolicy }).insertRawReadings(readings);
  const fromBuffer = recordingConnection(modern);
  const sink = new ClickHouseSink(fromBuffer.connection, { database: 'telemetry', maxRowsPerInsert: 1000, retryPolicy: fastPolicy });
  const buffer = sink.rawReadingsBuffer(); // starts at 64 KiB and has to grow
  for (const reading of readings) buffer.push(reading);
  const report = await sink.insertRawReadings(buffer);
  assert.deepEqual({ rows: report.rows, batches: report.batches }, { rows: 2500, batches: 3 });
  assert.deepEqual(fromBuffer.inserts.map((insert) => insert.body), fromRows.inserts.map((insert) => insert.body));
  assert.deepEqual(
    fromBuffer.inserts.map((insert) => insert.options.settings?.['insert_deduplication_token']),
    fromRows.inserts.map((insert) => insert.options.settings?.['insert_deduplication_token']),
  );
  assert.equal(report.bytes, fromRows.inserts.reduce((total, insert) => total + Buffer.byteLength(insert.body), 0));
});
