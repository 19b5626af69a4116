import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sqlIdentifier, sqlList, sqlNumber, sqlString, sqlTable, sqlUnsigned, SqlFormatError } from '../../src/clickhouse/sql.ts';
import {
  AGGREGATE_COLUMNS,
  CHECKPOINT_COLUMNS,
  RAW_READING_COLUMNS,
  encodeAggregateRow,
  encodeCheckpointRow,
  encodeRawReadingRow,
  tsvText,
  RowEncodingError,
} from '../../src/clickhouse/encode.ts';
import {
  classifyClickHouseFailure,
  ClickHouseQueryError,
  ClickHouseTimeoutError,
  ClickHouseUnavailableError,
} from '../../src/clickhouse/errors.ts';
import { capabilitiesFrom, CLICKHOUSE_18_16, usesDeduplicationToken } from '../../src/clickhouse/capabilities.ts';
import { integerField } from '../../src/clickhouse/result.ts';
import type { EmittedAggregateRow } from '../../src/core/rows.ts';

test('sqlString escapes quotes, backslashes and control characters into one-line literals', () => {
  assert.equal(sqlString("it's"), "'it\\'s'");
  assert.equal(sqlString('back\\slash'), "'back\\\\slash'");
  assert.equal(sqlString('a\nb\tc\r\0'), "'a\\nb\\tc\\r\\0'");
  assert.equal(sqlString('\u0001\u001f\u007f'), "'\\x01\\x1f\\x7f'");
  assert.equal(sqlString("'; DROP TABLE x; --"), "'\\'; DROP TABLE x; --'");
  assert.equal(sqlString('température ✓'), "'température ✓'");
  assert.equal(sqlString(''), "''");
});

test('sqlNumber and sqlUnsigned refuse what they cannot format exactly', () => {
  assert.equal(sqlNumber(-1.5), '-1.5');
  assert.equal(sqlNumber(1e-7), '1e-7');
  assert.equal(sqlNumber(-0), '0');
  assert.throws(() => sqlNumber(Number.NaN), SqlFormatError);
  assert.throws(() => sqlNumber(Number.POSITIVE_INFINITY), SqlFormatError);
  assert.equal(sqlUnsigned(1_700_000_000_000), '1700000000000');
  assert.equal(sqlUnsigned(18446744073709551615n), '18446744073709551615');
  assert.throws(() => sqlUnsigned(-1), SqlFormatError);
  assert.throws(() => sqlUnsigned(1.5), SqlFormatError);
  assert.throws(() => sqlUnsigned(2 ** 53), SqlFormatError);
  assert.throws(() => sqlUnsigned(-1n), SqlFormatError);
});

test('identifiers are back-quoted and anything but a plain identifier is refused', () => {
  assert.equal(sqlIdentifier('agg_main'), '`agg_main`');
  assert.equal(sqlTable('telemetry', 'agg_main'), '`telemetry`.`agg_main`');
  for (const bad of ['', 'a b', 'a`b', 'x;DROP', '1abc', 'a.b']) {
    assert.throws(() => sqlIdentifier(bad), SqlFormatError, bad);
  }
  assert.equal(sqlList([sqlString('a'), sqlUnsigned(1)]), "('a', 1)");
  assert.throws(() => sqlList([]), SqlFormatError);
});

const row: EmittedAggregateRow = {
  pipeline: 'main',
  tenant: 'acme',
  device: 'dev"1',
  metric: 'temp',
  windowStart: 1_700_000_000_000,
  windowEnd: 1_700_000_005_000,
  count: 3,
  sum: 60.5,
  min: 19.5,
  max: 21,
  first: 20,
  last: 21,
  firstTime: 1_700_000_000_100,
  lastTime: 1_700_000_004_900,
  p50: 20,
  lateReadings: 0,
  maxIngestTime: 1_700_000_005_010,
  partition: 7,
  version: 3,
  emittedAt: 1_700_000_006_000,
};

test('an aggregate row encodes to fixed bytes: one TabSeparated line, fields in the column order', () => {
  const line = encodeAggregateRow(row);
  assert.equal(line, encodeAggregateRow({ ...row }));
  assert.ok(line.endsWith('\n'));
  const fields = line.slice(0, -1).split('\t');
  assert.equal(fields.length, AGGREGATE_COLUMNS.length);
  const byColumn = Object.fromEntries(AGGREGATE_COLUMNS.map((column, i) => [column, fields[i]]));
  assert.equal(byColumn['device'], 'dev"1', 'quotes need no escaping in TabSeparated');
  assert.equal(byColumn['sum'], '60.5');
  assert.equal(byColumn['kafka_partition'], '7');
  assert.equal(byColumn['emitted_at_ms'], '1700000006000');
});

test('TabSeparated strings escape backslash, tab, newline, carriage return and NUL, and nothing else', () => {
  assert.equal(tsvText('plain "quoted" \'text\' température ✓'), 'plain "quoted" \'text\' température ✓');
  assert.equal(tsvText('a\tb\nc\rd\0e\\f'), 'a\\tb\\nc\\rd\\0e\\\\f');
  assert.equal(tsvText('{"k":"line\\nbreak"}'), '{"k":"line\\\\nbreak"}', 'a JSON escape keeps its backslash');
  const line = encodeRawReadingRow({ tenant: 't\tx', device: 'd\n1', readingId: 'r\\', metric: 'm', value: -1.5e-7, eventTime: 1, ingestTime: 2, partition: 0, offset: 3 });
  assert.equal(line, 't\\tx\td\\n1\tr\\\\\tm\t-1.5e-7\t1\t2\t0\t3\n');
  assert.equal(line.split('\t').length, RAW_READING_COLUMNS.length, 'an escaped tab does not split a field');
});

test('a checkpoint row carries its JSON state as one escaped field', () => {
  const state = '{"devices":{"a\\tb":1},"note":"x\\ny"}';
  const line = encodeCheckpointRow({ pipeline: 'main', partition: 2, offset: 40, state, createdAt: 5 });
  assert.equal(line, `main\t2\t40\t${state.replace(/\\/g, '\\\\')}\t5\n`);
  assert.equal(line.split('\t').length, CHECKPOINT_COLUMNS.length);
});

test('rows with numbers ClickHouse cannot store are refused, naming the field', () => {
  assert.throws(() => encodeAggregateRow({ ...row, sum: Number.NaN }), (error: unknown) => {
    assert.ok(error instanceof RowEncodingError);
    assert.equal(error.context['field'], 'sum');
    return true;
  });
  assert.throws(() => encodeAggregateRow({ ...row, count: -1 }), RowEncodingError);
  assert.throws(
    () =>
      encodeRawReadingRow({
        tenant: 't',
        device: 'd',
        readingId: 'r',
        metric: 'm',
        value: Number.POSITIVE_INFINITY,
        eventTime: 1,
        ingestTime: 2,
        partition: 0,
        offset: 1,
      }),
    RowEncodingError,
  );
});

test('failures are classified: old and new server error formats, timeouts, refused connections', () => {
  const at = { operation: 'insert', url: 'http://x:8123' } as const;
  const old = classifyClickHouseFailure(
    new Error("Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1"),
    at,
  );
  assert.ok(old instanceof ClickHouseQueryError);
  assert.equal(old.serverCode, 62);
  assert.equal(old.retriable, false);

  const tooManyParts = classifyClickHouseFailure(new Error('Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS)'), at);
  assert.ok(tooManyParts instanceof ClickHouseUnavailableError);
  assert.equal(tooManyParts.retriable, true);
  assert.equal(tooManyParts.outcome, 'unknown');

  const timeout = classifyClickHouseFailure(new Error('The user aborted a request.'), { ...at, abortReason: 'timeout', timeoutMs: 5 });
  assert.ok(timeout instanceof ClickHouseTimeoutError);
  assert.equal(timeout.code, 'CLICKHOUSE_TIMEOUT');
  assert.equal(timeout.retriable, true);
  assert.equal(timeout.outcome, 'unknown');

  const refused = classifyClickHouseFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' }), at);
  assert.ok(refused instanceof ClickHouseUnavailableError);
  assert.equal(refused.outcome, 'not-sent');

  const reset = classifyClickHouseFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), at);
  assert.equal(reset.code, 'CLICKHOUSE_UNAVAILABLE');
  assert.equal(reset.outcome, 'unknown');
});

test('capabilities come from the settings a server knows; 18.16 gets no deduplication token', () => {
  assert.equal(usesDeduplicationToken(CLICKHOUSE_18_16), false);
  assert.equal(CLICKHOUSE_18_16.major, 18);
  const modern = capabilitiesFrom(
    '25.8.2.29',
    new Set(['insert_deduplication_token', 'mutations_sync']),
    new Set(['non_replicated_deduplication_window']),
  );
  assert.equal(modern.major, 25);
  assert.equal(usesDeduplicationToken(modern), true);
  // A token without a deduplication window on the table would be silently ignored.
  assert.equal(usesDeduplicationToken(capabilitiesFrom('22.1', new Set(['insert_deduplication_token']), new Set())), false);
});

test('64-bit integers are read from quoted and unquoted JSON alike, and refused beyond 2^53', () => {
  assert.equal(integerField({ n: '1700000000000' }, 'n'), 1_700_000_000_000);
  assert.equal(integerField({ n: 42 }, 'n'), 42);
  assert.throws(() => integerField({ n: '18446744073709551615' }, 'n'));
  assert.throws(() => integerField({ n: 'x' }, 'n'));
  assert.throws(() => integerField({}, 'n'));
});
