import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeAggregateRowAt } from '../../src/clickhouse/encode.ts';
import { PartitionProcessor, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import type { WindowSpec } from '../../src/core/windows.ts';
import type { FuzzProperty } from './property.ts';

/**
 * Aggregates at the limits of a double (issue 16): whatever finite values a window holds, in
 * whatever order, with redeliveries and a snapshot/restore anywhere, every row the processor emits
 * encodes (no NaN or ±Infinity reaches the row encoder), and a window's sum is its readings' exact
 * sum rounded once, saturated to ±MAX_VALUE.
 */

/** The exact value of a finite double in units of 2^-1074 (every finite double is a whole number of them). */
function unitsOf(value: number): bigint {
  if (Number.isInteger(value)) return BigInt(value) << 1074n;
  // Not an integer: below 2^52, so doubling until it is one is exact and cannot overflow.
  let scaled = value;
  let doublings = 0;
  while (!Number.isInteger(scaled)) {
    scaled *= 2;
    doublings++;
  }
  return BigInt(scaled) << BigInt(1074 - doublings);
}

/**
 * The reference sum: exact in BigInt, rounded once by the engine's (correctly rounding) decimal
 * parser, saturated to ±MAX_VALUE. Short and obviously right, and shares no code with exact-sum.ts.
 */
export function exactSumOf(values: readonly number[]): number {
  let units = 0n;
  for (const value of values) units += unitsOf(value);
  const rounded = Number(`${units * 5n ** 1074n}e-1074`);
  if (rounded === Number.POSITIVE_INFINITY) return Number.MAX_VALUE;
  if (rounded === Number.NEGATIVE_INFINITY) return -Number.MAX_VALUE;
  return rounded + 0;
}

/** The reference midpoint (a + b) / 2, rounded once from the exact value, as exactSumOf. */
export function exactMidpointOf(a: number, b: number): number {
  return Number(`${(unitsOf(a) + unitsOf(b)) * 5n ** 1075n}e-1075`) + 0;
}

const MAX = Number.MAX_VALUE;
export const EXTREMES = [MAX, -MAX, 1e308, -1e308, 2 ** 1023, -(2 ** 1023), 2 ** 960, -(2 ** 960), 2 ** 959.5, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308, 0, -0, 1, -1, 0.1];

const T = 1_700_000_000_000;

interface LimitsReading {
  readonly atMs: number;
  readonly value: number;
  readonly metric: 'a' | 'b';
}

export interface LimitsCase {
  readonly window: WindowSpec;
  /** 60 s: nothing closes before the final flush (each row is final); 0: windows close, late readings correct them. */
  readonly delayMs: number;
  /** The distinct readings; reading i has id `r${i}`. */
  readonly readings: readonly LimitsReading[];
  /** Deliveries, as indices into `readings` (mod its length): out of order, with redeliveries. */
  readonly order: readonly number[];
  /** Delivery before which the processor is snapshotted and restored. */
  readonly cut: number;
}

const arbitrary: fc.Arbitrary<LimitsCase> = fc.record({
  window: fc.constantFrom<WindowSpec>(
    { kind: 'tumbling', sizeMs: 10_000 },
    { kind: 'sliding', sizeMs: 10_000, slideMs: 5000 },
    { kind: 'session', gapMs: 3000 },
  ),
  delayMs: fc.constantFrom(0, 60_000),
  readings: fc.array(
    fc.record({
      atMs: fc.integer({ min: 0, max: 29_999 }),
      value: fc.oneof(fc.constantFrom(...EXTREMES), fc.double({ noNaN: true, noDefaultInfinity: true })),
      metric: fc.constantFrom<'a' | 'b'>('a', 'b'),
    }),
    { minLength: 1, maxLength: 30 },
  ),
  order: fc.array(fc.nat(), { maxLength: 60 }),
  cut: fc.nat({ max: 60 }),
});

function deliveriesOf(input: LimitsCase): number[] {
  const n = input.readings.length;
  return input.order.length === 0 ? input.readings.map((_, i) => i) : input.order.map((i) => i % n);
}

function recordOf(input: LimitsCase, index: number): ReadingRecord {
  const reading = input.readings[index]!;
  return {
    v: 1,
    tenant: 'acme',
    device: 'ovf-1',
    id: `r${index}`,
    eventTime: T + reading.atMs,
    ingestTime: T + reading.atMs + 1000,
    metrics: { [reading.metric]: reading.value },
  };
}

function predicate(input: LimitsCase): void {
  const spec: ProcessorSpec = {
    pipeline: 'limits',
    partition: 0,
    window: input.window,
    watermark: { kind: 'fixed', delayMs: input.delayMs },
    latePolicy: { kind: 'reemit', allowedLatenessMs: 600_000 },
    idleTimeoutMs: 5000,
  };
  const rows: AggregateRow[] = [];
  const out = { emitRow: (row: AggregateRow) => rows.push(row), emitLate: () => undefined };
  const deliveries = deliveriesOf(input);
  let processor = new PartitionProcessor(spec);
  deliveries.forEach((index, offset) => {
    if (offset === input.cut) processor = PartitionProcessor.restore(spec, processor.snapshot());
    processor.process(recordOf(input, index), offset, out);
  });
  processor.flushAll(out);
  for (const row of rows) encodeAggregateRowAt(row, T);
  if (input.delayMs === 0) return;
  // Nothing closed before the flush: each row holds every delivered reading of its series and interval.
  const delivered = [...new Set(deliveries)].map((index) => input.readings[index]!);
  for (const row of rows) {
    const inside = delivered.filter((r) => r.metric === row.metric && T + r.atMs >= row.windowStart && T + r.atMs < row.windowEnd);
    assert.equal(row.count, inside.length, `count of ${row.metric} [${row.windowStart - T}, ${row.windowEnd - T})`);
    const expected = exactSumOf(inside.map((r) => r.value));
    assert.ok(Object.is(row.sum + 0, expected), `sum ${row.sum} of ${row.metric} [${row.windowStart - T}, ${row.windowEnd - T}), exact ${expected}`);
  }
}

function toUnitTest(input: LimitsCase): string {
  return [
    "test('limits: a counterexample found by the fuzz harness', () => {",
    `  const input: LimitsCase = ${JSON.stringify(input, (_key, value: unknown) => (Object.is(value, -0) ? '__NEG_ZERO__' : value)).replaceAll('"__NEG_ZERO__"', '-0')};`,
    '  limitsProperty.predicate(input);',
    '});',
  ].join('\n');
}

export const limitsProperty: FuzzProperty<LimitsCase> = {
  name: 'limits/exact-sums-encodable-rows',
  description:
    'finite readings of any magnitude, in any order, with redeliveries and a snapshot/restore, give rows whose every field encodes and whose sum is the exact sum rounded once (saturated to ±MAX_VALUE)',
  arbitrary,
  predicate,
  toUnitTest,
};

export const limitsProperties: readonly FuzzProperty<LimitsCase>[] = [limitsProperty];
