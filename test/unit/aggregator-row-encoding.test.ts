import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EncodedRows,
  RowEncodingError,
  encodeAggregateRow,
  encodeAggregateRowAt,
  encodeBatch,
  encodeRawReadingRow,
  integerText,
} from '../../src/clickhouse/encode.ts';
import type { AggregateRow, RawReadingRow } from '../../src/core/rows.ts';
import { mulberry32 } from '../../src/util/random.ts';

/** Raw rows with awkward text (escapes, multi-byte UTF-8, astral characters) among plain ones. */
function rawRows(count: number): RawReadingRow[] {
  const devices = ['plain', 'tab\there', 'température', 'emoji 🛰️', 'back\\slash', 'line\nbreak'];
  return Array.from({ length: count }, (_, i) => ({
    tenant: 'acme',
    device: devices[i % devices.length]!,
    readingId: `r-${i}`,
    metric: i % 2 === 0 ? 'temperature' : 'humidité',
    value: i % 3 === 0 ? i / 4 : -i,
    eventTime: 1_763_000_000_000 + i,
    ingestTime: 1_763_000_000_300 + i,
    partition: i % 12,
    offset: i,
  }));
}

test('encoded rows are cut into exactly the bodies encodeBatch gives, whatever the batch size and however many lines are gathered', () => {
  // 3,000 rows of ~80 bytes cross the gathering threshold several times.
  const rows = rawRows(3000);
  for (const rowsPerBatch of [1, 7, 1000, 2999, 3000, 100_000]) {
    const encoded = new EncodedRows(encodeRawReadingRow, rowsPerBatch, 16);
    for (const row of rows) encoded.push(row);
    const expected: string[] = [];
    for (let from = 0; from < rows.length; from += rowsPerBatch) expected.push(encodeBatch(rows, from, Math.min(rows.length, from + rowsPerBatch), encodeRawReadingRow));
    const batches = encoded.batches();
    assert.deepEqual(
      batches.map((batch) => batch.body.toString('utf8')),
      expected,
      `rowsPerBatch ${rowsPerBatch}`,
    );
    assert.deepEqual(
      batches.map((batch) => batch.rows),
      expected.map((_, i) => Math.min(rowsPerBatch, rows.length - i * rowsPerBatch)),
    );
    assert.equal(encoded.size, rows.length);
    assert.equal(encoded.byteLength, Buffer.byteLength(expected.join(''), 'utf8'));
  }
});

test('rows pushed after batches() was read are still encoded and cut in place', () => {
  const rows = rawRows(10);
  const encoded = new EncodedRows(encodeRawReadingRow, 4);
  for (const row of rows.slice(0, 5)) encoded.push(row);
  assert.equal(encoded.batches().length, 2);
  for (const row of rows.slice(5)) encoded.push(row);
  assert.deepEqual(
    encoded.batches().map((batch) => batch.body.toString('utf8')),
    [encodeBatch(rows, 0, 4, encodeRawReadingRow), encodeBatch(rows, 4, 8, encodeRawReadingRow), encodeBatch(rows, 8, 10, encodeRawReadingRow)],
  );
});

test('a row ClickHouse cannot store is refused and leaves what was encoded before it untouched', () => {
  const rows = rawRows(3);
  const encoded = new EncodedRows(encodeRawReadingRow, 100);
  encoded.push(rows[0]!);
  assert.throws(() => encoded.push({ ...rows[1]!, eventTime: -1 }), RowEncodingError);
  encoded.push(rows[2]!);
  assert.equal(encoded.size, 2);
  assert.equal(encoded.batches()[0]?.body.toString('utf8'), encodeRawReadingRow(rows[0]!) + encodeRawReadingRow(rows[2]!));
});

test('an aggregate row encoded with its flush time is byte for byte the emitted row', () => {
  const row: AggregateRow = {
    pipeline: 'main',
    tenant: 'acme',
    device: 'tab\tdevice ✓',
    metric: 'temperature',
    windowStart: 1_763_000_000_000,
    windowEnd: 1_763_000_005_000,
    count: 3,
    sum: 61.25,
    min: 20,
    max: 21.25,
    first: 20,
    last: 21.25,
    firstTime: 1_763_000_000_100,
    lastTime: 1_763_000_004_900,
    p50: 20,
    lateReadings: 0,
    maxIngestTime: 1_763_000_005_200,
    partition: 7,
    version: 3,
  };
  const emittedAt = 1_763_000_006_000;
  assert.equal(encodeAggregateRowAt(row, emittedAt), encodeAggregateRow({ ...row, emittedAt }));
  assert.throws(() => encodeAggregateRowAt(row, -5), (error: unknown) => error instanceof RowEncodingError && /emittedAt/.test(error.message));
});

test('integerText writes every non-negative safe integer as String() does', () => {
  const random = mulberry32(5);
  const values: number[] = [0, 1, 9, 10, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 999_999_999, 1_000_000_000, 1_000_000_001, 2 ** 53 - 1, 1_765_000_000_000, 1_765_000_000_007];
  for (let digits = 1; digits <= 16; digits++) values.push(10 ** digits - 1, 10 ** digits, 10 ** digits + 1);
  for (let i = 0; i < 100_000; i++) {
    // Spread over every magnitude, and low parts with leading zeros (x·10^9 + a small number).
    values.push(Math.floor(random() * 2 ** Math.floor(random() * 54)));
    values.push(Math.floor(random() * 9_007_199) * 1_000_000_000 + Math.floor(random() * 10 ** Math.floor(random() * 9)));
  }
  for (const value of values) if (Number.isSafeInteger(value)) assert.equal(integerText(value), String(value), `integerText(${value})`);
});
