import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Reading } from '../../src/core/readings.ts';
import { encodeReadingBatch, encodeValidatedBatches } from '../../src/core/wire/batch.ts';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { writeValidatedReading } from '../../src/core/wire/reading-bytes.ts';
import { encodeReading, encodeValidatedReading } from '../../src/core/wire/reading.ts';
import type { AnyFuzzProperty, FuzzProperty } from './property.ts';

/**
 * The wire module's fast paths held equal to its plain forms on generated validated readings:
 * encodeValidatedReading and writeValidatedReading to encodeReading, encodeValidatedBatches to
 * encodeReadingBatch (cut where the size limit says, no sooner); and every record decodes back to
 * the readings it was written from. A validated reading is what validation guarantees: tenant,
 * device and metric names of NAME_PATTERN / METRIC_NAME_PATTERN, an integer event time, finite
 * metric values; its id is any well-formed string (JSON escapes and non-ASCII included).
 */

const NOW = 1_764_100_000_000;

const name = fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,12}$/);
const metricName = fc.oneof(fc.constantFrom('t', 'temperature', 'humidity', 'a.b-c_9', '_x', 'Z', 'constructor', 'toString'), fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,10}$/));

/** The numbers the byte writer writes by hand (integers, short decimals) and the ones it leaves to String(). */
const metricValue = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.tuple(fc.integer({ min: -1_000_000_000, max: 1_000_000_000 }), fc.constantFrom(1, 2, 3)).map(([scaled, places]) => Number((scaled / 10 ** places).toFixed(places))),
  fc.constantFrom(-0, 0, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, 999_999_999.999, 1e9 + 0.5, 0.1 + 0.2, 2 ** 53, -(2 ** 53)),
);

const id = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[ -~]{1,20}$/) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('quote " here', 'back \\ slash', 'unicodé ✓', 'line \u2028', 'del \u007f', '\u{1f600}') },
);

const eventTime = fc.oneof(fc.integer({ min: NOW - 7 * 86_400_000, max: NOW + 300_000 }), fc.integer({ min: -(2 ** 40), max: 2 ** 45 }));

function readingOf(tenant: string, device: string, ingestTime: number): fc.Arbitrary<Reading> {
  return fc
    .record({ id, eventTime, metrics: fc.uniqueArray(fc.tuple(metricName, metricValue), { minLength: 1, maxLength: 5, selector: ([key]) => key }) })
    .map(({ id: readingId, eventTime: time, metrics }) => ({ tenant, device, id: readingId, eventTime: time, ingestTime, metrics: Object.fromEntries(metrics) }));
}

const origin = fc.record({ tenant: name, device: name, ingestTime: fc.oneof(fc.constant(NOW), fc.integer({ min: 0, max: 2 ** 45 })) });

export interface ReadingCase {
  readonly reading: Reading;
  /** The byte writer's target: exactly the record's size, one byte short, or roomy. */
  readonly room: 'exact' | 'short' | 'roomy';
}

const readingCase: fc.Arbitrary<ReadingCase> = fc.record({
  reading: origin.chain(({ tenant, device, ingestTime }) => readingOf(tenant, device, ingestTime)),
  room: fc.constantFrom<ReadingCase['room']>('exact', 'short', 'roomy', 'roomy'),
});

/** Printable ASCII without `"` or `\`: the ids the byte writer writes itself (JSON.stringify only adds quotes). */
const PLAIN_ASCII = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

/** The same text as decoded records give back (a decoded -0 is 0: JSON writes both as 0). */
const reencoded = (value: string): string[] => {
  const decoded = decodeRecord(value);
  assert.ok(decoded.ok, `the record decodes: ${value}`);
  return decoded.readings.map((reading) => encodeReading(reading));
};

function checkReading({ reading, room }: ReadingCase): void {
  const plain = encodeReading(reading);
  assert.equal(encodeValidatedReading(reading), plain, 'encodeValidatedReading');
  const bytes = Buffer.from(plain, 'utf8');
  const size = room === 'exact' ? bytes.length : room === 'short' ? bytes.length - 1 : bytes.length + 64;
  const target = new Uint8Array(size);
  const written = writeValidatedReading(reading, target);
  if (PLAIN_ASCII.test(reading.id) && room !== 'short') {
    assert.equal(written, bytes.length, 'writeValidatedReading writes a plain id itself');
    assert.equal(Buffer.from(target.subarray(0, written)).toString('utf8'), plain, 'writeValidatedReading');
  } else {
    assert.equal(written, -1, 'writeValidatedReading leaves this reading to encodeValidatedReading');
  }
  assert.deepStrictEqual(reencoded(plain), [plain], 'decodes back to the same reading');
}

export interface BatchCase {
  readonly readings: readonly Reading[];
  readonly maxChars: number;
}

const batchCase: fc.Arbitrary<BatchCase> = fc.record({
  readings: origin.chain(({ tenant, device, ingestTime }) => fc.array(readingOf(tenant, device, ingestTime), { minLength: 0, maxLength: 12 })),
  maxChars: fc.oneof(fc.integer({ min: 1, max: 600 }), fc.constant(320 * 1024)),
});

function checkBatch({ readings, maxChars }: BatchCase): void {
  const parts = encodeValidatedBatches(readings, maxChars);
  if (readings.length === 0) {
    assert.deepStrictEqual(parts, []);
    return;
  }
  let next = 0;
  parts.forEach((part, i) => {
    const slice = readings.slice(next, next + part.readings);
    assert.ok(part.readings >= 1, 'every record holds a reading');
    assert.equal(part.value, encodeReadingBatch(slice), `record ${i} is encodeReadingBatch of its readings`);
    assert.ok(part.value.length <= maxChars || part.readings === 1, `record ${i}: ${part.value.length} characters over ${maxChars} with ${part.readings} readings`);
    if (i < parts.length - 1) {
      const longer = encodeReadingBatch(readings.slice(next, next + part.readings + 1));
      assert.ok(longer.length > maxChars, `record ${i} was cut although the next reading fit (${longer.length} <= ${maxChars})`);
    }
    assert.deepStrictEqual(reencoded(part.value), slice.map((reading) => encodeReading(reading)), `record ${i} decodes back to its readings`);
    next += part.readings;
  });
  assert.equal(next, readings.length, 'every reading in some record, in order');
}

const literal = (value: unknown): string => JSON.stringify(value, (_key, item: unknown) => (Object.is(item, -0) ? '__MINUS_ZERO__' : item)).replaceAll('"__MINUS_ZERO__"', '-0');

const readingProperty: FuzzProperty<ReadingCase> = {
  name: 'wire/reading-fast-paths',
  description: 'validated readings: encodeValidatedReading and writeValidatedReading give encodeReading\'s bytes (or -1, only when they must), and decode back',
  arbitrary: readingCase,
  predicate: checkReading,
  toUnitTest: (input) =>
    [
      `test('the reading record\\'s fast paths write encodeReading\\'s bytes (fuzz: wire/reading-fast-paths)', () => {`,
      `  const reading: Reading = ${literal(input.reading)};`,
      `  assert.equal(encodeValidatedReading(reading), encodeReading(reading));`,
      `  const target = new Uint8Array(Buffer.byteLength(encodeReading(reading))${input.room === 'short' ? ' - 1' : input.room === 'roomy' ? ' + 64' : ''});`,
      `  const written = writeValidatedReading(reading, target);`,
      `  if (written >= 0) assert.equal(Buffer.from(target.subarray(0, written)).toString('utf8'), encodeReading(reading));`,
      `});`,
    ].join('\n'),
};

const batchProperty: FuzzProperty<BatchCase> = {
  name: 'wire/batch-fast-path',
  description: 'validated readings of one device: encodeValidatedBatches gives encodeReadingBatch\'s records, cut only where the size limit says, and they decode back',
  arbitrary: batchCase,
  predicate: checkBatch,
  toUnitTest: (input) =>
    [
      `test('encodeValidatedBatches gives encodeReadingBatch\\'s records (fuzz: wire/batch-fast-path)', () => {`,
      `  const readings: Reading[] = ${literal(input.readings)};`,
      `  let next = 0;`,
      `  for (const part of encodeValidatedBatches(readings, ${input.maxChars})) {`,
      `    assert.equal(part.value, encodeReadingBatch(readings.slice(next, next + part.readings)));`,
      `    next += part.readings;`,
      `  }`,
      `  assert.equal(next, readings.length);`,
      `});`,
    ].join('\n'),
};

/** The wire module's differential properties: each fast path against its plain form. */
export const wireProperties: readonly AnyFuzzProperty[] = [readingProperty, batchProperty];
