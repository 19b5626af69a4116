import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import type { ValidationConfig } from '../../src/config/schema.ts';
import type { Reading } from '../../src/core/readings.ts';
import { validateDeviceMessage, type ValidationResult } from '../../src/core/validation.ts';
import { encodeReadingBatch, encodeValidatedBatches, MAX_BATCH_RECORD_CHARS } from '../../src/core/wire/batch.ts';
import { writeValidatedReading } from '../../src/core/wire/reading-bytes.ts';
import { encodeReading, encodeValidatedReading } from '../../src/core/wire/reading.ts';
import { assertProperty } from '../fuzz/property.ts';
import { wireProperties } from '../fuzz/wire-properties.ts';

/**
 * The wire module's fast paths held equal to its plain forms, byte for byte: encodeValidatedReading
 * and writeValidatedReading (reading-bytes.ts) to encodeReading, encodeValidatedBatches to
 * encodeReadingBatch. The one differential test of the record format: a format change that
 * misses a fast path fails here. Examples first (readings as validation produces them), then the
 * fuzz properties of test/fuzz/wire-properties.ts, briefly and with a fixed seed;
 * `npm run fuzz -- --only wire --cases 100000` runs them for longer with any seed.
 */

const config = parseConfig({}).edge.validation;
const NOW = 1_764_100_000_000;
const origin = { tenant: 'acme', device: 'sensor-1' };

function validate(payload: unknown, overrides: Partial<ValidationConfig> = {}): ValidationResult {
  return validateDeviceMessage(new TextEncoder().encode(JSON.stringify(payload)), origin, NOW, { ...config, ...overrides });
}

const reading = (id: string, eventTime: number, metrics: Record<string, number>): Reading => ({
  tenant: 'acme',
  device: 'sensor-1',
  id,
  eventTime,
  ingestTime: NOW,
  metrics,
});

test('encodeValidatedReading is byte for byte encodeReading for every validated reading', () => {
  const payloads = [
    { id: '42', ts: NOW, metrics: { temperature: 21.5, humidity: 40 } },
    { id: 'quote " back \\ slash', ts: NOW - 1, metrics: { a: -0, b: 1e21, c: 1e-7, d: -123.456 } },
    { id: 'unicodé ✓ \u2028', ts: NOW, metric: 'x', value: 0.1 + 0.2 },
    { seq: 9007199254740991, ts: '2025-11-25T19:46:39.123Z', metrics: { _z: 1, a1: 2, 'm.x-y_z': 3 } },
  ];
  for (const payload of payloads) {
    const [reading] = validate(payload).readings;
    assert.ok(reading, JSON.stringify(payload));
    assert.equal(encodeValidatedReading(reading), encodeReading(reading));
  }
});

test('writeValidatedReading writes encodeReading\'s UTF-8 bytes, or -1 when it cannot', () => {
  const target = new Uint8Array(4096);
  const written = (reading: Reading): string | -1 => {
    const length = writeValidatedReading(reading, target);
    return length < 0 ? -1 : Buffer.from(target.subarray(0, length)).toString('utf8');
  };
  const payloads = [
    { id: '42', ts: NOW, metrics: { temperature: 21.5, humidity: 40 } },
    { id: 'run-s-17', ts: NOW - 123_456, metrics: { a: -0, b: 1e21, c: 1e-7, d: -123.456, e: -9007199254740991, f: 9007199254740991, g: 9007199254740992, h: 0, i: 10, j: 99, k: 100 } },
    { seq: 0, ts: 0, metrics: { x: 1 } },
    { seq: 9007199254740991, ts: '2025-11-25T19:46:39.123Z', metrics: { _z: 1, a1: 2, 'm.x-y_z': 3 } },
    { id: 'ts-float', ts: NOW - 0.5, metric: 'x', value: 0.1 + 0.2 },
    { id: ' ~!#$%&()*+,-./:;<=>?@[]^_`{|}', ts: NOW, metrics: { y: -1.5e-300 } },
  ];
  for (const payload of payloads) {
    const [reading] = validate(payload, { maxPastAgeMs: NOW + 1 }).readings;
    assert.ok(reading, JSON.stringify(payload));
    assert.equal(written(reading), encodeReading(reading), JSON.stringify(payload));
  }
  // Readings this writer leaves to encodeValidatedReading: escapes, non-ASCII, too long for the target.
  for (const id of ['quote " here', 'back \\ slash', 'unicodé ✓', 'line \u2028', 'del \u007f']) {
    const reading: Reading = { tenant: 't', device: 'd', id, eventTime: NOW, ingestTime: NOW, metrics: { a: 1 } };
    assert.equal(writeValidatedReading(reading, target), -1, id);
  }
  const [reading] = validate({ id: '42', ts: NOW, metrics: { temperature: 21.5 } }).readings;
  assert.ok(reading);
  const exact = Buffer.byteLength(encodeReading(reading));
  assert.equal(writeValidatedReading(reading, new Uint8Array(exact)), exact);
  assert.equal(writeValidatedReading(reading, new Uint8Array(exact - 1)), -1);
});

test('writeValidatedReading writes every number as String() does (integers, short decimals, the rest)', () => {
  const target = new Uint8Array(256);
  const values: number[] = [0.001, 0.0011, 0.999, 1.5, -1.5, 21.5, 20.05, 1.005, 0.1 + 0.2, 999_999_999.999, 1e9 + 0.5, 123_456_789.123, 1e-4, 5e-324, 1.7976931348623157e308, 4.35, 0.145, 1.1];
  let seed = 7;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  for (let i = 0; i < 20_000; i++) {
    const places = i % 5;
    const magnitude = 10 ** Math.floor(random() * 12 - 3);
    values.push(Number((random() * magnitude * (i % 2 === 0 ? 1 : -1)).toFixed(places)));
    values.push(random() * magnitude, Math.floor(random() * 2 ** 53) * (i % 2 === 0 ? 1 : -1), random() * 1000 + 0.1);
  }
  for (const value of values) {
    const reading: Reading = { tenant: 't', device: 'd', id: 'i', eventTime: 0, ingestTime: 0, metrics: { m: value } };
    const length = writeValidatedReading(reading, target);
    assert.equal(Buffer.from(target.subarray(0, length)).toString('utf8'), encodeReading(reading), String(value));
  }
});

test('encodeValidatedBatches is byte for byte encodeReadingBatch for validated readings', () => {
  const payload = {
    readings: [
      { id: 'quote " back \\ slash', ts: NOW - 1, metrics: { a: -0, b: 1e21, c: 1e-7, d: -123.456 } },
      { id: 'unicodé ✓ \u2028', ts: NOW, metric: 'x', value: 0.1 + 0.2 },
      { seq: 9007199254740991, ts: new Date(NOW - 1000).toISOString(), metrics: { _z: 1, a1: 2, 'm.x-y_z': 3 } },
    ],
  };
  const { readings, rejections } = validateDeviceMessage(Buffer.from(JSON.stringify(payload)), { tenant: 'acme', device: 'sensor-1' }, NOW, config);
  assert.deepEqual(rejections, []);
  assert.deepEqual(encodeValidatedBatches(readings), [{ value: encodeReadingBatch(readings), readings: 3 }]);
});

test('encodeValidatedBatches cuts under the size limit, in order, and each part is a valid batch record', () => {
  const readings = Array.from({ length: 40 }, (_, i) => reading(`reading-${i}`, NOW - i, { temperature: i }));
  const whole = encodeReadingBatch(readings);
  const limit = Math.floor(whole.length / 3);
  const parts = encodeValidatedBatches(readings, limit);
  assert.ok(parts.length >= 3);
  let next = 0;
  for (const part of parts) {
    assert.ok(part.value.length <= limit, `${part.value.length} <= ${limit}`);
    assert.equal(part.value, encodeReadingBatch(readings.slice(next, next + part.readings)));
    next += part.readings;
  }
  assert.equal(next, readings.length);
  assert.deepEqual(encodeValidatedBatches(readings, limit), parts, 'the same cut every time');
  assert.equal(encodeValidatedBatches(readings).length, 1, `${readings.length} small readings fit one record of ${MAX_BATCH_RECORD_CHARS} characters`);
  assert.deepEqual(encodeValidatedBatches([]), []);
});

const SEED = 20_261_205;
const RUNS = 1500;

for (const property of wireProperties) {
  test(`${property.name}: ${property.description}`, () => {
    assertProperty(property, { numRuns: RUNS, seed: SEED });
  });
}
