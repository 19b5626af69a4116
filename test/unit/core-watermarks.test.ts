import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../../src/util/random.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { DelayHistogram, delayBin, delayBinUpperEdge } from '../../src/core/delay-histogram.ts';
import {
  ADAPTIVE_MIN_SAMPLES,
  PartitionClock,
  createPartitionClock,
  validateWatermarkSpec,
  type WatermarkSpec,
} from '../../src/core/watermarks.ts';


const T0 = 1_700_000_000_000;
const YEAR = 365 * 24 * 3_600_000;
const IDLE_MS = 5000;

const adaptive = {
  kind: 'adaptive',
  quantile: 0.99,
  marginMs: 500,
  floorMs: 200,
  ceilingMs: 30_000,
  horizonMs: 60_000,
} as const satisfies WatermarkSpec;

/** One suite, run against every strategy. */
const strategies: ReadonlyArray<readonly [string, WatermarkSpec]> = [
  ['fixed', { kind: 'fixed', delayMs: 2000 }],
  ['adaptive', adaptive],
];

/** Feeds `count` readings, one every 10 ms of ingest time, with delays drawn by `delay`. */
function feed(clock: PartitionClock, from: number, count: number, delay: () => number): number {
  let ingest = from;
  for (let i = 0; i < count; i++, ingest += 10) clock.observeReading(ingest - Math.round(delay()), ingest);
  return ingest;
}

for (const [name, spec] of strategies) {
  test(`${name}: the watermark never goes back, and trails P by D`, () => {
    const random = mulberry32(1);
    const clock = createPartitionClock(spec, IDLE_MS);
    assert.equal(clock.watermark(), Number.NEGATIVE_INFINITY);
    let previous = clock.watermark();
    let ingest = T0;
    for (let i = 0; i < 20_000; i++, ingest += 10) {
      // Delays jump between regimes, so an adaptive D rises and falls.
      const regime = Math.floor(i / 3000) % 2 === 0 ? 800 : 6000;
      clock.observeReading(ingest - Math.round(regime * random()), ingest);
      const mark = clock.watermark();
      assert.ok(mark >= previous, `watermark went back from ${previous} to ${mark}`);
      assert.ok(mark <= clock.progressClock(), `watermark ${mark} ahead of P`);
      previous = mark;
    }
    assert.ok(clock.progressClock() <= ingest, 'P beyond the ingest clock');
  });

  test(`${name}: a reading stamped a year ahead moves P and the watermark no further than its ingest time`, () => {
    const build = (): PartitionClock => {
      const clock = createPartitionClock(spec, IDLE_MS);
      feed(clock, T0, 2000, () => 1000);
      return clock;
    };
    const lastIngest = T0 + 1999 * 10;
    // Arriving at an ingest time the progress clock has passed already: moves nothing.
    const clock = build();
    const [p, wm] = [clock.progressClock(), clock.watermark()];
    assert.equal(p, lastIngest - 1000);
    clock.observeReading(p - 500 + YEAR, p - 500);
    assert.equal(clock.progressClock(), p);
    assert.equal(clock.watermark(), wm);

    // Arriving later: exactly the effect of a reading stamped at its ingest time, not a year on.
    const skewed = build();
    const honest = build();
    skewed.observeReading(lastIngest + 10 + YEAR, lastIngest + 10);
    honest.observeReading(lastIngest + 10, lastIngest + 10);
    assert.equal(skewed.progressClock(), lastIngest + 10);
    assert.equal(skewed.progressClock(), honest.progressClock());
    assert.equal(skewed.watermark(), honest.watermark());
    assert.ok(skewed.watermark() < lastIngest + 10, 'watermark at or beyond the ingest clock');
  });

  test(`${name}: a tick after idleTimeoutMs without readings marks the partition idle and advances P`, () => {
    const clock = createPartitionClock(spec, IDLE_MS);
    const end = feed(clock, T0, 100, () => 300);
    const lastIngest = end - 10;
    const p = clock.progressClock();
    clock.observeTick(lastIngest + IDLE_MS - 1);
    assert.equal(clock.isIdle(), false);
    assert.equal(clock.progressClock(), p);
    clock.observeTick(lastIngest + IDLE_MS);
    assert.equal(clock.isIdle(), true);
    assert.equal(clock.progressClock(), lastIngest + IDLE_MS);
    assert.equal(clock.watermark(), lastIngest + IDLE_MS - clock.currentDelayMs());
    clock.observeReading(lastIngest + IDLE_MS, lastIngest + IDLE_MS + 100);
    assert.equal(clock.isIdle(), false);
    // A partition that never saw a reading is idle at its first tick.
    const empty = createPartitionClock(spec, IDLE_MS);
    empty.observeTick(T0);
    assert.equal(empty.isIdle(), true);
    assert.equal(empty.progressClock(), T0);
  });

  test(`${name}: snapshot/restore continues exactly where it left off`, () => {
    const random = mulberry32(2);
    const original = createPartitionClock(spec, IDLE_MS);
    const next = feed(original, T0, 5000, () => 200 + 3000 * random() ** 3);
    const restored = PartitionClock.restore(spec, IDLE_MS, JSON.parse(JSON.stringify(original.snapshot())));
    assert.deepEqual(restored.snapshot(), original.snapshot());
    const a = mulberry32(3);
    const b = mulberry32(3);
    for (let i = 0, ingest = next; i < 8000; i++, ingest += 10) {
      const delayA = Math.round(4000 * a());
      const delayB = Math.round(4000 * b());
      original.observeReading(ingest - delayA, ingest);
      restored.observeReading(ingest - delayB, ingest);
      if (i % 997 === 0) {
        original.observeTick(ingest + 7000);
        restored.observeTick(ingest + 7000);
      }
      assert.equal(restored.watermark(), original.watermark());
      assert.equal(restored.currentDelayMs(), original.currentDelayMs());
    }
    assert.deepEqual(restored.delayQuantiles(), original.delayQuantiles());
  });
}

test('fixed: watermark = P − delayMs', () => {
  const clock = createPartitionClock({ kind: 'fixed', delayMs: 2000 }, IDLE_MS);
  clock.observeReading(T0 + 10_000, T0 + 10_500);
  assert.equal(clock.progressClock(), T0 + 10_000);
  assert.equal(clock.watermark(), T0 + 8000);
  clock.observeReading(T0 + 9000, T0 + 11_000); // older event time: P stays
  assert.equal(clock.watermark(), T0 + 8000);
  clock.observeReading(T0 + 12_000, T0 + 11_500); // event time ahead of ingest: P takes the ingest time
  assert.equal(clock.progressClock(), T0 + 11_500);
  assert.equal(clock.watermark(), T0 + 9500);
  assert.equal(clock.delayQuantiles(), null);
});

test('adaptive: before enough data D is the ceiling', () => {
  const clock = createPartitionClock(adaptive, IDLE_MS);
  assert.equal(clock.currentDelayMs(), adaptive.ceilingMs);
  feed(clock, T0, ADAPTIVE_MIN_SAMPLES - 1, () => 100);
  assert.equal(clock.currentDelayMs(), adaptive.ceilingMs);
  // Refreshes happen on ingest-time steps; one step later with enough samples, D drops.
  feed(clock, T0 + 10_000, 5, () => 100);
  assert.equal(clock.currentDelayMs(), 100 + adaptive.marginMs);
});

test('adaptive: D follows a shift of the delay distribution from ~1 s to ~5 s within the horizon', () => {
  const random = mulberry32(4);
  const clock = createPartitionClock(adaptive, IDLE_MS);
  // Delay ≈ 1 s ± 200 ms (uniform), 100 readings/s, for two horizons.
  let ingest = feed(clock, T0, 12_000, () => 800 + 400 * random());
  const before = clock.currentDelayMs();
  assert.ok(before >= 1180 + adaptive.marginMs && before <= 1230 + adaptive.marginMs, `D before the shift: ${before}`);

  // Then ≈ 5 s ± 500 ms.
  const shiftAt = ingest;
  const delays: number[] = [];
  let followedAt: number | undefined;
  for (; ingest < shiftAt + adaptive.horizonMs + 1000; ingest += 10) {
    const delay = Math.round(4500 + 1000 * random());
    delays.push(delay);
    clock.observeReading(ingest - delay, ingest);
    if (followedAt === undefined && clock.currentDelayMs() >= 5000 + adaptive.marginMs) followedAt = ingest;
  }
  assert.ok(followedAt !== undefined && followedAt - shiftAt <= adaptive.horizonMs, 'D must reach the new regime within the horizon');
  // Once the old regime left the horizon, D = the new P99 + margin (bins are within 1/64).
  const after = clock.currentDelayMs();
  const p99 = [...delays].sort((a, b) => a - b)[Math.ceil(0.99 * delays.length) - 1]!;
  assert.ok(Math.abs(after - (p99 + adaptive.marginMs)) <= p99 / 64 + 1, `D after the shift ${after}, true P99 ${p99}`);
  const quantiles = clock.delayQuantiles()!;
  assert.ok(quantiles.p50 >= 4900 && quantiles.p50 <= 5100, `p50 ${quantiles.p50}`);
  assert.ok(quantiles.p50 <= quantiles.p95 && quantiles.p95 <= quantiles.p99, JSON.stringify(quantiles));
});

test('adaptive: clocks far ahead or far behind are counted apart and do not move the estimate', () => {
  const random = mulberry32(5);
  const clean = createPartitionClock(adaptive, IDLE_MS);
  const skewed = createPartitionClock(adaptive, IDLE_MS);
  let ingest = T0;
  let aheadCount = 0;
  let behindCount = 0;
  // 5000 readings × 10 ms = 50 s: everything stays within the 60 s horizon.
  for (let i = 0; i < 5000; i++, ingest += 10) {
    const delay = Math.round(300 + 700 * random());
    clean.observeReading(ingest - delay, ingest);
    skewed.observeReading(ingest - delay, ingest);
    if (i % 20 === 0) {
      skewed.observeReading(ingest + YEAR, ingest); // a device clock a year ahead
      aheadCount++;
    }
    if (i % 25 === 0) {
      skewed.observeReading(ingest - 3_600_000, ingest); // an hour-old backlog
      behindCount++;
    }
  }
  assert.equal(skewed.currentDelayMs(), clean.currentDelayMs());
  const q = skewed.delayQuantiles()!;
  const c = clean.delayQuantiles()!;
  assert.deepEqual([q.p50, q.p95, q.p99, q.samples], [c.p50, c.p95, c.p99, c.samples]);
  assert.equal(q.negative, aheadCount);
  assert.equal(q.overMax, behindCount);
  assert.equal(c.negative + c.overMax, 0);
});

test('delay histogram: 1 ms bins below 128 ms, within 1/64 above; the horizon forgets old buckets', () => {
  for (let d = 0; d < 128; d++) assert.equal(delayBinUpperEdge(delayBin(d)), d);
  for (const d of [128, 129, 1000, 4999, 30_000, 123_456, 2 ** 31 - 1]) {
    const upper = delayBinUpperEdge(delayBin(d));
    assert.ok(upper >= d && upper - d <= d / 64, `${d} → ${upper}`);
    assert.equal(delayBin(upper), delayBin(d));
    assert.equal(delayBin(upper + 1), delayBin(d) + 1);
  }
  const histogram = new DelayHistogram({ horizonMs: 10_000, maxDelayMs: 30_000 });
  for (let i = 0; i < 100; i++) histogram.record(50, T0 + i * 10);
  assert.equal(histogram.quantile(0.5), 50);
  histogram.advance(T0 + 9_000);
  assert.equal(histogram.sampleCount(), 100);
  histogram.advance(T0 + 11_000); // the first bucket (T0 .. T0 + 1 s) leaves the horizon
  assert.equal(histogram.sampleCount(), 0);
  assert.ok(Number.isNaN(histogram.quantile(0.5)), 'an empty estimate has no quantile');
});

test('watermark specs are validated with the key named', () => {
  assert.throws(
    () => validateWatermarkSpec({ ...adaptive, floorMs: 40_000 }),
    (error: unknown) => error instanceof ConfigError && /watermark\.floorMs/.test(error.message),
  );
  assert.throws(() => validateWatermarkSpec({ ...adaptive, quantile: 1 }), /watermark\.quantile/);
  assert.throws(() => validateWatermarkSpec({ kind: 'fixed', delayMs: -1 }), /watermark\.delayMs/);
  assert.throws(() => createPartitionClock(adaptive, -5), /idleTimeoutMs/);
});
