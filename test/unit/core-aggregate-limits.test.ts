import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../../src/util/random.ts';
import { SAMPLE_SIZE, WindowAggregate } from '../../src/core/aggregate.ts';
import { hashId } from '../../src/core/hash.ts';
import { PartitionProcessor, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord } from '../../src/core/readings.ts';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import { validateGatewayBody } from '../../src/core/validation.ts';
import { encodeValidatedBatches } from '../../src/core/wire/batch.ts';
import { parseConfig } from '../../src/config/load.ts';
import { encodeAggregateRowAt } from '../../src/clickhouse/encode.ts';
import { assertProperty } from '../fuzz/property.ts';
import { EXTREMES, exactMidpointOf, exactSumOf, limitsProperty } from '../fuzz/limits-properties.ts';

/**
 * The aggregates at the limits of a double (issue 16, defect 1): a window's sum is the exact sum
 * of its readings rounded once, saturated to ±Number.MAX_VALUE when it lies beyond; no aggregate
 * is ever non-finite, whatever finite values a window holds and in whatever order they came.
 */

const MAX = Number.MAX_VALUE;
const TINY = Number.MIN_VALUE;

function aggregateOf(values: readonly number[], prefix = 'v'): WindowAggregate {
  const window = new WindowAggregate(0, 10_000);
  values.forEach((value, i) => window.absorb(hashId(`${prefix}${i}`), value, i, i + 1, i));
  return window;
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Every aggregate of a window, through the snapshot codec as well (JSON, as a checkpoint stores it). */
function checkedSum(values: readonly number[]): number {
  const window = aggregateOf(values);
  const restored = new WindowAggregate(0, 10_000);
  restored.restore(JSON.parse(JSON.stringify(window.encode())));
  assert.ok(Object.is(restored.sum(), window.sum()), `restored sum ${restored.sum()} differs from ${window.sum()}`);
  return window.sum();
}

const SUMS: ReadonlyArray<readonly [name: string, values: readonly number[], expected: number]> = [
  ['two readings of 1e308 (the issue)', [1e308, 1e308], MAX],
  ['two readings of -1e308', [-1e308, -1e308], -MAX],
  ['MAX + MAX', [MAX, MAX], MAX],
  ['MAX + (-MAX): exactly 0', [MAX, -MAX], 0],
  ['MAX + MAX - MAX: exactly MAX, through an intermediate beyond the range', [MAX, MAX, -MAX], MAX],
  ['MAX + MAX - MAX - MAX + 1: exactly 1', [MAX, MAX, -MAX, -MAX, 1], 1],
  ['MAX + TINY - MAX: exactly the smallest subnormal', [MAX, TINY, -MAX], TINY],
  ['1e308 · 3 − 1e308 · 2 + 0.5', [1e308, 1e308, 1e308, -1e308, -1e308, 0.5], 1e308],
  ['2^1023 · 2 − 2^1023: the boundary of the range', [2 ** 1023, 2 ** 1023, -(2 ** 1023)], 2 ** 1023],
  ['subnormals add exactly', [TINY, TINY, TINY], 3 * TINY],
  ['-0 alone is 0', [-0], 0],
  ['-0 and 0', [-0, 0, -0], 0],
];

for (const [name, values, expected] of SUMS) {
  test(`the window sum at the limits of a double: ${name}`, () => {
    const random = mulberry32(values.length);
    for (let round = 0; round < 20; round++) {
      const sum = checkedSum(round === 0 ? values : shuffled(values, random));
      assert.ok(Object.is(sum, expected) || (expected === 0 && sum === 0), `sum ${sum}, expected ${expected}`);
    }
  });
}

test('a sum beyond the range saturates to ±MAX_VALUE, and only a sum whose correct rounding is beyond it', () => {
  // MAX + half an ulp of MAX is the first exact sum that rounds beyond MAX (ties to even).
  const halfUlp = 2 ** 970;
  assert.equal(checkedSum([MAX, halfUlp / 2]), MAX);
  assert.equal(checkedSum([MAX, halfUlp]), MAX);
  assert.equal(checkedSum([MAX, halfUlp, -halfUlp]), MAX);
  assert.equal(checkedSum([-MAX, -halfUlp, halfUlp / 2]), -MAX);
  assert.equal(checkedSum(Array.from({ length: 1000 }, () => MAX)), MAX);
  assert.equal(checkedSum(Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? MAX : -MAX))), 0);
});

test('many large values whose exact sum is finite after cancellation: the same sum in every order, equal to the exact reference', () => {
  const random = mulberry32(16);
  const values: number[] = [];
  for (let i = 0; i < 120; i++) {
    const magnitude = [MAX, 1e308, 2 ** 1023, 2 ** 960, 1e300, 1, 1e-300, TINY][i % 8]!;
    values.push(magnitude * (random() < 0.5 ? -1 : 1) * (1 - random() / 4));
  }
  const expected = exactSumOf(values);
  assert.ok(Number.isFinite(expected));
  const seen = new Set<number>();
  for (let round = 0; round < 30; round++) seen.add(checkedSum(shuffled(values, random)));
  assert.deepEqual([...seen], [expected]);
});

test('merging windows (sessions) that hold values near the limits equals absorbing everything into one', () => {
  const random = mulberry32(23);
  const pool = [MAX, -MAX, 1e308, -1e308, 2 ** 1023, 2 ** 960, -(2 ** 960), TINY, -TINY, 1, 0.1, 0];
  for (let round = 0; round < 200; round++) {
    const values = Array.from({ length: 1 + Math.floor(random() * 40) }, () => pool[Math.floor(random() * pool.length)]!);
    const cut = Math.floor(random() * (values.length + 1));
    const left = new WindowAggregate(0, 10_000);
    const right = new WindowAggregate(0, 10_000);
    values.forEach((value, i) => (i < cut ? left : right).absorb(hashId(`m${i}`), value, i, i, i));
    left.merge(right);
    const whole = aggregateOf(values, 'm');
    assert.ok(Object.is(left.sum(), whole.sum()), `merged ${left.sum()} vs whole ${whole.sum()} for ${JSON.stringify(values)}`);
    assert.ok(Object.is(whole.sum(), exactSumOf(values)), `sum ${whole.sum()} vs exact ${exactSumOf(values)} for ${JSON.stringify(values)}`);
    assert.ok(Number.isFinite(whole.median()));
  }
});

test('min, max, first, last and the median hold extreme values exactly and never leave the range', () => {
  const window = aggregateOf([1e308, -MAX, MAX, TINY, -0]);
  assert.equal(window.min, -MAX);
  assert.equal(window.max, MAX);
  assert.equal(window.first, 1e308);
  assert.ok(window.last === 0);
  // Sorted: -MAX, -0, TINY, 1e308, MAX.
  assert.equal(window.median(), TINY);
  // The median of an even count is the midpoint of the middle two: it must not overflow.
  assert.equal(aggregateOf([1e308, 1e308]).median(), 1e308);
  assert.equal(aggregateOf([MAX, MAX]).median(), MAX);
  assert.equal(aggregateOf([-MAX, -MAX]).median(), -MAX);
  assert.equal(aggregateOf([MAX, -MAX]).median(), 0);
  assert.equal(aggregateOf([MAX, 2 ** 1023]).median(), 1.5 * 2 ** 1023 - 2 ** 970);
  // Correctly rounded midpoints at the bottom of the range too (1.5 units of TINY: ties to even).
  assert.equal(aggregateOf([TINY, 2 * TINY]).median(), 2 * TINY);
  assert.equal(aggregateOf([0, TINY]).median(), 0);
  const big = Array.from({ length: 3 * SAMPLE_SIZE }, (_, i) => (i % 2 === 0 ? MAX : 1e308));
  assert.ok(Number.isFinite(aggregateOf(big).median()));
});

test('snapshots: ordinary windows keep their 13-field form; windows with large values round-trip their exact sum', () => {
  assert.equal(aggregateOf([1, 2, 3]).encode().length, 13);
  const values = [MAX, MAX, 1e300, -MAX, TINY];
  const window = aggregateOf(values);
  const tuple = JSON.parse(JSON.stringify(window.encode())) as unknown[];
  assert.equal(tuple.length, 14);
  const restored = new WindowAggregate(0, 10_000);
  restored.restore(tuple);
  assert.equal(restored.sum(), exactSumOf(values));
  // Restoring then absorbing more continues the same exact sum.
  restored.absorb(hashId('more'), -MAX, 99, 99, 99);
  assert.equal(restored.sum(), exactSumOf([...values, -MAX]));
});

test('a snapshot written before the fix (an overflowed sum stored as [null, null]) is rebuilt from the sample, or refused', () => {
  // Exactly what the old code checkpointed for the window.
  const old = JSON.parse('[2,[null,null],1e+308,1e+308,1e+308,1,1e+308,2,2,0,1,[],[1,1e+308,2,1e+308]]') as unknown;
  const restored = new WindowAggregate(0, 10_000);
  restored.restore(old);
  assert.deepEqual([restored.count, restored.sum(), restored.median()], [2, MAX, 1e308]);
  // Above SAMPLE_SIZE readings the sample no longer holds every value: the sum cannot be rebuilt.
  const large = aggregateOf(Array.from({ length: SAMPLE_SIZE + 1 }, () => 1)).encode();
  large[1] = [null as unknown as number];
  assert.throws(() => new WindowAggregate(0, 10_000).restore(large), { code: 'CORE_SNAPSHOT_INVALID' });
});

test('the median of an even count is the correctly rounded midpoint for every pair of extremes and random doubles', () => {
  const random = mulberry32(31);
  const pool = [...EXTREMES, 2 ** -1022 + TINY, 3 * TINY, -7 * TINY];
  for (let i = 0; i < 300; i++) {
    const bits = new Float64Array(new BigUint64Array([BigInt(Math.floor(random() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(random() * 2 ** 32))]).buffer)[0]!;
    if (Number.isFinite(bits)) pool.push(bits);
  }
  for (const a of pool.slice(0, 60)) {
    for (const b of pool) {
      const median = aggregateOf([a, b]).median();
      assert.ok(Object.is(median + 0, exactMidpointOf(a, b)), `median of ${a} and ${b}: ${median}, exact ${exactMidpointOf(a, b)}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// The processor and the row encoder
// ---------------------------------------------------------------------------------------------

const T = 1_700_000_000_000; // a multiple of 10 s
const config = parseConfig({}).edge.validation;

function specOf(window: ProcessorSpec['window']): ProcessorSpec {
  return {
    pipeline: 'test',
    partition: 0,
    window,
    watermark: { kind: 'fixed', delayMs: 2000 },
    latePolicy: { kind: 'drop' },
    idleTimeoutMs: 5000,
  };
}

function rowsOf(spec: ProcessorSpec, readings: readonly ReadingRecord[]): AggregateRow[] {
  const processor = new PartitionProcessor(spec);
  const rows: AggregateRow[] = [];
  const out = { emitRow: (row: AggregateRow) => rows.push(row), emitLate: () => undefined };
  readings.forEach((reading, offset) => processor.process(reading, offset, out));
  processor.flushAll(out);
  return rows;
}

test("the issue's request: two readings of 1e308 are accepted, and their window's row encodes (sum saturated to MAX_VALUE)", () => {
  const body = JSON.stringify([
    { device: 'ovf-1', id: 'a', ts: T, metrics: { t: 1e308 } },
    { device: 'ovf-1', id: 'b', ts: T, metrics: { t: 1e308 } },
  ]);
  const validated = validateGatewayBody(new TextEncoder().encode(body), 'json', 'acme', T + 10, config, 4096);
  assert.deepEqual(validated.rejections, []);
  const readings: ReadingRecord[] = [];
  for (const batch of encodeValidatedBatches(validated.readings)) {
    const decoded = decodeRecord(batch.value);
    assert.ok(decoded.ok);
    readings.push(...decoded.readings);
  }
  const rows = rowsOf(specOf({ kind: 'tumbling', sizeMs: 10_000 }), readings);
  assert.equal(rows.length, 1);
  const row = rows[0]!;
  assert.deepEqual([row.count, row.sum, row.min, row.max, row.p50], [2, MAX, 1e308, 1e308, 1e308]);
  assert.match(encodeAggregateRowAt(row, T + 20), /\t1\.7976931348623157e\+308\t1e\+308\t/);
});

test('every window kind, sessions merged through a bridging reading included, emits encodable rows for values at the limits', () => {
  const reading = (id: string, atMs: number, value: number): ReadingRecord => ({
    v: 1,
    tenant: 'acme',
    device: 'ovf-1',
    id,
    eventTime: T + atMs,
    ingestTime: T + atMs + 1,
    metrics: { t: value },
  });
  // Two sessions 4 s apart (gap 3 s) that the reading at 2 s joins into one.
  const readings = [reading('a', 0, MAX), reading('b', 4000, MAX), reading('c', 4000, 1e308), reading('d', 2000, 1e308)];
  for (const window of [
    { kind: 'tumbling', sizeMs: 10_000 },
    { kind: 'sliding', sizeMs: 10_000, slideMs: 5000 },
    { kind: 'session', gapMs: 3000 },
  ] as const) {
    const rows = rowsOf(specOf(window), readings);
    assert.ok(rows.length > 0, window.kind);
    for (const row of rows) {
      assert.doesNotThrow(() => encodeAggregateRowAt(row, T), `${window.kind} row ${JSON.stringify(row)}`);
      if (row.count === 4) assert.equal(row.sum, MAX);
    }
    if (window.kind === 'session') assert.deepEqual(rows.map((row) => row.count), [4]);
  }
});

test('property: no reading set, order, duplicate, window kind or snapshot cut gives the row encoder a non-finite value', () => {
  assertProperty(limitsProperty, { numRuns: 150, seed: 160_001 });
});
