import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sqlIdentifier, sqlList, sqlNumber, sqlString, sqlTable, sqlUnsigned, SqlFormatError } from '../../src/clickhouse/sql.ts';
import { encodeAggregateRow, encodeRawReadingRow, RowEncodingError } from '../../src/clickhouse/encode.ts';
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

test('an aggregate row encodes to fixed bytes in a fixed field order', () => {
  const line = encodeAggregateRow(row);
  assert.equal(line, encodeAggregateRow({ ...row }));
  assert.ok(line.endsWith('}\n'));
  const parsed = JSON.parse(line) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed).slice(0, 5), ['pipeline', 'tenant', 'device', 'metric', 'window_start_ms']);
  assert.equal(parsed['device'], 'dev"1');
  assert.equal(parsed['kafka_partition'], 7);
  assert.equal(parsed['emitted_at_ms'], 1_700_000_006_000);
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
