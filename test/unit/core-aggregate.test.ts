import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../../src/util/random.ts';
import { SAMPLE_SIZE, WindowAggregate } from '../../src/core/aggregate.ts';
import { addExact, roundExact } from '../../src/core/exact-sum.ts';
import { HashSet53, hashId } from '../../src/core/hash.ts';


function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

interface Input {
  id: string;
  value: number;
  eventTime: number;
  ingestTime: number;
  offset: number;
}

function aggregateOf(inputs: readonly Input[]): WindowAggregate {
  const window = new WindowAggregate(0, 10_000);
  for (const input of inputs) window.absorb(hashId(input.id), input.value, input.eventTime, input.ingestTime, input.offset);
  return window;
}

function summary(window: WindowAggregate): Record<string, number> {
  return {
    count: window.count,
    sum: window.sum(),
    min: window.min,
    max: window.max,
    first: window.first,
    firstTime: window.firstTime,
    last: window.last,
    lastTime: window.lastTime,
    maxIngestTime: window.maxIngestTime,
    minOffset: window.minOffset,
    p50: window.median(),
  };
}

test('hashId is deterministic, 53-bit and never 0; HashSet53 grows and dedups', () => {
  assert.equal(hashId('reading-42'), hashId('reading-42'));
  assert.notEqual(hashId('reading-42'), hashId('reading-43'));
  const set = new HashSet53();
  const hashes = Array.from({ length: 5000 }, (_, i) => hashId(`id-${i}`));
  for (const hash of hashes) {
    assert.ok(Number.isSafeInteger(hash) && hash > 0, `hash ${hash}`);
    assert.equal(set.add(hash), true);
  }
  assert.equal(new Set(hashes).size, 5000);
  for (const hash of hashes) assert.equal(set.add(hash), false);
  assert.equal(set.size, 5000);
  assert.equal(set.has(hashId('id-5000')), false);
  assert.deepEqual(set.values().sort(), [...hashes].sort());
});

test('the exact sum does not depend on the order of the values', () => {
  const random = mulberry32(7);
  // Values chosen to make naive summation order-dependent: wide magnitudes and cancellation.
  const values = [1e16, 1, -1e16, 0.1, 0.2, 0.3, 1e-9, 123_456.789, -0.30000000000000004, 3.3e10];
  for (let i = 0; i < 200; i++) values.push((random() - 0.5) * 10 ** Math.floor(random() * 12));
  const naive = new Set<number>();
  const exact = new Set<number>();
  for (let round = 0; round < 50; round++) {
    const order = shuffled(values, random);
    naive.add(order.reduce((a, b) => a + b, 0));
    const partials: number[] = [];
    let count = 0;
    for (const value of order) count = addExact(partials, 0, count, value);
    exact.add(roundExact(partials, 0, count));
  }
  assert.ok(naive.size > 1, 'the data set must make naive summation order-dependent');
  assert.equal(exact.size, 1);
  assert.equal(roundExact([0.1, 0.2].slice(), 0, 0), 0);
  const partials: number[] = [];
  let count = 0;
  for (const value of [0.1, 0.2, 0.3]) count = addExact(partials, 0, count, value);
  assert.equal(roundExact(partials, 0, count), 0.6); // correctly rounded; naive gives 0.6000000000000001
});

test('first/last break event-time ties by value; every aggregate is order-independent', () => {
  const random = mulberry32(11);
  const inputs: Input[] = [];
  for (let i = 0; i < 60; i++) {
    inputs.push({
      id: `r${i}`,
      value: Math.round((random() * 100 - 50) * 1000) / 1000,
      // Only five distinct event times: plenty of ties.
      eventTime: 1000 * Math.floor(random() * 5),
      ingestTime: 10_000 + Math.floor(random() * 5000),
      offset: 100 + i,
    });
  }
  const reference = summary(aggregateOf(inputs));
  for (let round = 0; round < 20; round++) assert.deepEqual(summary(aggregateOf(shuffled(inputs, random))), reference);
  const atFirst = inputs.filter((input) => input.eventTime === reference['firstTime']).map((input) => input.value);
  const atLast = inputs.filter((input) => input.eventTime === reference['lastTime']).map((input) => input.value);
  assert.equal(reference['first'], Math.min(...atFirst));
  assert.equal(reference['last'], Math.max(...atLast));
});

test('a duplicate id counts once and changes nothing, below and above the sample size', () => {
  for (const n of [3, SAMPLE_SIZE, SAMPLE_SIZE + 1, 200]) {
    const inputs: Input[] = Array.from({ length: n }, (_, i) => ({ id: `d${i}`, value: i, eventTime: i, ingestTime: i + 5, offset: i }));
    const window = aggregateOf(inputs);
    const before = summary(window);
    for (const input of inputs) {
      // Same id, even with a different value: a redelivery is recognised by its id alone.
      assert.equal(window.absorb(hashId(input.id), 999, input.eventTime, input.ingestTime, 0), false);
    }
    assert.deepEqual(summary(window), before);
    assert.equal(window.count, n);
    assert.equal(window.has(hashId('d0')), true);
    assert.equal(window.has(hashId(`d${n}`)), false);
  }
});

test('p50 is the exact median up to SAMPLE_SIZE readings, then a bottom-k estimate chosen by id hash', () => {
  assert.equal(aggregateOf([5, 1, 3].map((value, i) => ({ id: `a${i}`, value, eventTime: i, ingestTime: i, offset: i }))).median(), 3);
  assert.equal(aggregateOf([4, 1, 3, 2].map((value, i) => ({ id: `b${i}`, value, eventTime: i, ingestTime: i, offset: i }))).median(), 2.5);
  const exact = Array.from({ length: SAMPLE_SIZE }, (_, i) => ({ id: `c${i}`, value: i * 10, eventTime: i, ingestTime: i, offset: i }));
  assert.equal(aggregateOf(exact).median(), 75);

  // 1000 readings: the sample is the 16 smallest id hashes, so the estimate is reproducible.
  const many = Array.from({ length: 1000 }, (_, i) => ({ id: `m${i}`, value: i, eventTime: i, ingestTime: i, offset: i }));
  const bottom = [...many].sort((a, b) => hashId(a.id) - hashId(b.id)).slice(0, SAMPLE_SIZE).map((input) => input.value).sort((a, b) => a - b);
  const expected = (bottom[7]! + bottom[8]!) / 2;
  assert.equal(aggregateOf(many).median(), expected);
  assert.equal(aggregateOf(shuffled(many, mulberry32(3))).median(), expected);
  assert.ok(Math.abs(expected - 500) < 300, `a uniform sample's median ${expected} should be near 500`);
});

test('merge equals absorbing everything into one window', () => {
  const random = mulberry32(5);
  for (const [a, b] of [
    [3, 4],
    [10, 10],
    [20, 3],
    [2, 40],
    [100, 100],
  ] as const) {
    const inputs: Input[] = Array.from({ length: a + b }, (_, i) => ({
      id: `x${i}`,
      value: random() * 1000 - 500,
      eventTime: Math.floor(random() * 10_000),
      ingestTime: Math.floor(random() * 20_000),
      offset: Math.floor(random() * 1e6),
    }));
    const left = aggregateOf(inputs.slice(0, a));
    left.merge(aggregateOf(inputs.slice(a)));
    assert.deepEqual(summary(left), summary(aggregateOf(inputs)));
    for (const input of inputs) assert.equal(left.has(hashId(input.id)), true);
  }
});

test('encode/restore round-trips the aggregate exactly', () => {
  const random = mulberry32(9);
  for (const n of [1, 5, SAMPLE_SIZE, SAMPLE_SIZE + 1, 300]) {
    const inputs: Input[] = Array.from({ length: n }, (_, i) => ({
      id: `e${i}`,
      value: (random() - 0.5) * 1e6,
      eventTime: Math.floor(random() * 1e12),
      ingestTime: Math.floor(random() * 1e12),
      offset: i,
    }));
    const original = aggregateOf(inputs);
    const restored = new WindowAggregate(0, 10_000);
    restored.restore(JSON.parse(JSON.stringify(original.encode())));
    assert.deepEqual(summary(restored), summary(original));
    // The restored window still recognises every id and keeps absorbing identically.
    for (const input of inputs) assert.equal(restored.has(hashId(input.id)), true);
    const extra: Input = { id: 'extra', value: 0.5, eventTime: 5, ingestTime: 6, offset: 0 };
    original.absorb(hashId(extra.id), extra.value, extra.eventTime, extra.ingestTime, extra.offset);
    restored.absorb(hashId(extra.id), extra.value, extra.eventTime, extra.ingestTime, extra.offset);
    assert.deepEqual(summary(restored), summary(original));
  }
});
