import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { candidateGrid, describeCandidate, type Candidate } from '../../src/advisor/candidates.ts';
import { compareAdaptiveWithFixed, compareAllAdaptive, latencyOf, meetsSla, rankCandidates, recommend, type Sla } from '../../src/advisor/recommend.ts';
import { simulateAll, type SimulationResult } from '../../src/advisor/simulate.ts';
import { generateTrace } from '../../src/advisor/traces.ts';
import { exactReplay } from '../model/advisor-replay.ts';

const SLA: Sla = { p95LatencyMs: 10_000, minCompleteness: 0.999, latency: 'end-to-end' };
const window = { kind: 'tumbling', sizeMs: 5000 } as const;

function fixed(delayMs: number): Candidate {
  return { window, watermark: { kind: 'fixed', delayMs }, latePolicy: { kind: 'drop' }, idleTimeoutMs: 5000, maxDeviceClockOffsetMs: 300_000 };
}
function adaptive(quantile: number, marginMs = 500): Candidate {
  return { window, watermark: { kind: 'adaptive', quantile, marginMs, floorMs: 200, ceilingMs: 30_000, horizonMs: 60_000 }, latePolicy: { kind: 'drop' }, idleTimeoutMs: 5000, maxDeviceClockOffsetMs: 300_000 };
}

/** A result with the given completeness and P95 end-to-end latency (everything else plausible). */
function result(candidate: Candidate, completeness: number, p95: number, stateBytes = 1e6): SimulationResult {
  const latency = { count: 1000, mean: p95 * 0.7, p50: p95 * 0.6, p95, p99: p95 * 1.2, max: p95 * 2 };
  return {
    candidate,
    label: describeCandidate(candidate),
    readings: 1000,
    offered: 1000,
    counted: Math.round(completeness * 1000),
    unresolved: 0,
    completeness,
    onTimeCompleteness: completeness,
    lateDropped: 0,
    lateToTopic: 0,
    lateAbsorbed: 0,
    lateDropRate: 1 - completeness,
    windowLatency: latency,
    endToEndLatency: latency,
    rows: 100,
    peakOpenWindows: 10,
    peakStateBytes: stateBytes,
    meanDelayMs: candidate.watermark.kind === 'fixed' ? candidate.watermark.delayMs : 2400,
    maxDelayMs: 3000,
    maxWatermarkLeadMs: -100,
    cpuMs: 1,
    cpuNsPerReading: 500,
    wallMs: 1,
  };
}

test('meetsSla needs both the latency bound and the completeness bound', () => {
  assert.equal(meetsSla(result(fixed(1000), 0.9995, 9000), SLA), true);
  assert.equal(meetsSla(result(fixed(1000), 0.9985, 9000), SLA), false);
  assert.equal(meetsSla(result(fixed(1000), 0.9995, 10_001), SLA), false);
});

test('ranking prefers the lowest latency, then completeness, then memory; or completeness first on request', () => {
  const a = result(fixed(2000), 0.9992, 8000);
  const b = result(adaptive(0.99), 0.9997, 7900);
  const c = result(fixed(5000), 0.99999, 9500);
  const d = result(fixed(500), 0.98, 6000);
  const e = result(adaptive(0.999), 0.9997, 7900, 5e5);
  assert.deepEqual(rankCandidates([a, b, c, d, e], SLA).map((r) => r.label), [e.label, b.label, a.label, c.label]);
  assert.deepEqual(rankCandidates([a, b, c, d, e], SLA, 'completeness').map((r) => r.label), [c.label, e.label, b.label, a.label]);
});

test('the recommendation explains the trade-off against a faster fixed delay and prints a valid pipeline entry', () => {
  const results = [result(fixed(1000), 0.982, 6500), result(fixed(3000), 0.9985, 8200), result(fixed(8000), 0.99999, 12_000), result(adaptive(0.99), 0.9997, 7900)];
  const recommendation = recommend(results, SLA, { name: 'main', guarantee: 'exactly-once' });
  assert.equal(recommendation.recommended?.label, results[3]!.label);
  assert.match(recommendation.explanation, /adaptive delay .*2\.4s on average.* P95 end-to-end latency at 7\.9s and misses 0\.03% of readings/);
  assert.match(recommendation.explanation, /; a fixed 1s delay \+ device-clock shift \(max 5min\) would reach P95 6\.5s but miss 1\.8%\.$/);
  const yaml = parse(recommendation.yaml!) as { aggregator: { pipelines: unknown[] } };
  const config = parseConfig(yaml);
  const pipeline = config.aggregator.pipelines[0]!;
  assert.equal(pipeline.name, 'main');
  assert.deepEqual(pipeline.watermark, { kind: 'adaptive', quantile: 0.99, marginMs: 500, floorMs: 200, ceilingMs: 30_000, horizonMs: 60_000 });
  assert.deepEqual(pipeline.window, window);
  assert.deepEqual(pipeline.latePolicy, { kind: 'drop' });
  assert.deepEqual(recommendation.pipeline?.watermark, pipeline.watermark);
  // The device-clock ceiling the figures were measured with is written out, even at its default.
  assert.equal((yaml.aggregator.pipelines[0] as { maxDeviceClockOffsetMs?: number }).maxDeviceClockOffsetMs, 300_000);
  assert.equal(pipeline.maxDeviceClockOffsetMs, 300_000);
});

test('labels say what closes a window: the watermark, plus the learned device-clock shift when it is on', () => {
  assert.equal(describeCandidate(fixed(3000)), 'tumbling 5s · fixed 3s + device-clock shift (max 5min) · drop');
  const off = { ...fixed(3000), maxDeviceClockOffsetMs: 0 };
  assert.equal(describeCandidate(off), 'tumbling 5s · fixed 3s · drop');
  const recommendation = recommend([result(off, 0.9995, 9000)], SLA);
  assert.equal(recommendation.pipeline?.maxDeviceClockOffsetMs, 0);
  assert.match(recommendation.yaml!, /maxDeviceClockOffsetMs: 0/);
  assert.match(recommendation.explanation, /^A fixed 3s delay with tumbling 5s windows/);
  // A grid over the setting: each watermark with and without the shift.
  const grid = candidateGrid({ windows: [window], fixedDelaysMs: [1000], quantiles: [], marginsMs: [], latePolicy: { kind: 'drop' }, deviceClockOffsetsMs: [300_000, 0] });
  assert.deepEqual(grid.map(describeCandidate), ['tumbling 5s · fixed 1s + device-clock shift (max 5min) · drop', 'tumbling 5s · fixed 1s · drop']);
});

test('when nothing meets the SLA the recommendation says so and names the closest configurations', () => {
  const results = [result(fixed(1000), 0.98, 6500), result(fixed(8000), 0.9999, 12_000)];
  const recommendation = recommend(results, SLA);
  assert.equal(recommendation.recommended, null);
  assert.equal(recommendation.yaml, null);
  assert.match(recommendation.explanation, /^No configuration meets/);
  assert.match(recommendation.explanation, /fastest that reaches the completeness is tumbling 5s · fixed 8s/);
  assert.match(recommendation.explanation, /most complete within the latency bound is tumbling 5s · fixed 1s/);
});

test('compareAdaptiveWithFixed: each verdict, and the plain sentence when adaptive does not win', () => {
  const ad = result(adaptive(0.99), 0.9990, 8000);
  const better = compareAdaptiveWithFixed(ad, [ad, result(fixed(2000), 0.97, 6000), result(fixed(5000), 0.9992, 9500)], SLA);
  assert.equal(better.verdict, 'adaptive-better');
  assert.equal(better.comparable.length, 1, 'the 97 % fixed delay is not comparable');
  assert.match(better.sentence, /faster than every fixed delay as complete \(within 0.05 percentage points\)/);

  const worse = compareAdaptiveWithFixed(ad, [ad, result(fixed(3000), 0.9991, 7800), result(fixed(5000), 0.9992, 9500)], SLA);
  assert.equal(worse.verdict, 'fixed-as-good');
  assert.equal(worse.bestFixed?.label, 'tumbling 5s · fixed 3s + device-clock shift (max 5min) · drop');
  assert.match(worse.sentence, /does NOT beat fixed 3s \+ device-clock shift/);
  // A fixed delay without the shift does not compare with an adaptive one with it: they differ in more than the watermark.
  const unlike = compareAdaptiveWithFixed(ad, [ad, result({ ...fixed(3000), maxDeviceClockOffsetMs: 0 }, 0.9991, 7800)], SLA);
  assert.equal(unlike.verdict, 'no-comparable');

  const alone = compareAdaptiveWithFixed(ad, [ad, result(fixed(2000), 0.97, 6000)], SLA);
  assert.equal(alone.verdict, 'no-comparable');
  assert.match(alone.sentence, /no fixed delay in the grid is that complete/);

  // Within the tolerance (0.05 percentage points) a fixed delay counts as equally complete.
  const close = compareAdaptiveWithFixed(ad, [ad, result(fixed(3000), 0.9986, 7000)], SLA);
  assert.equal(close.verdict, 'fixed-as-good');
});

test('step change (1 s → 5 s): adaptive beats every fixed delay of the same completeness on P95, and the comparison says which', () => {
  const { trace } = generateTrace({ kind: 'step', readings: 120_000, devices: 200, seed: 7 });
  const grid = candidateGrid({
    windows: [window],
    fixedDelaysMs: [0, 500, 1000, 2000, 3000, 5000, 8000, 12_000, 20_000],
    quantiles: [0.9, 0.99],
    marginsMs: [0, 500],
    latePolicy: { kind: 'drop' },
  });
  const results = simulateAll(trace, grid, { partitions: 4 });
  const comparisons = compareAllAdaptive(results, SLA);
  assert.equal(comparisons.length, 4);
  for (const comparison of comparisons) {
    const p95 = latencyOf(comparison.adaptive, SLA).p95;
    for (const fixedResult of comparison.comparable) {
      assert.ok(fixedResult.completeness >= comparison.adaptive.completeness - 0.0005);
      if (comparison.verdict === 'adaptive-better') assert.ok(p95 < latencyOf(fixedResult, SLA).p95, comparison.sentence);
    }
    if (comparison.verdict === 'fixed-as-good') {
      assert.ok(latencyOf(comparison.bestFixed!, SLA).p95 <= p95);
      assert.match(comparison.sentence, /does NOT beat/);
    }
  }
  // The claim on this trace: following the delay is faster than any fixed delay that is as complete.
  const wins = comparisons.filter((comparison) => comparison.verdict === 'adaptive-better');
  assert.ok(wins.length > 0, comparisons.map((comparison) => comparison.sentence).join('\n'));
});

test('step delays (1 s → 5 s): the recommended configuration\'s P95 and completeness are those of an exact per-reading replay', () => {
  // Device clock shifts follow the step (devices whose delay exceeds the watermark's get later
  // deadlines), so windows of one partition close out of end order: the replay must still settle
  // each reading by its own row.
  const { trace } = generateTrace({ kind: 'step', readings: 40_000, devices: 20, seed: 7 });
  const grid = candidateGrid({
    windows: [{ kind: 'tumbling', sizeMs: 1000 }],
    fixedDelaysMs: [0, 500, 1000, 2000, 3000, 5000, 8000, 12_000, 20_000],
    quantiles: [0.9, 0.99],
    marginsMs: [0, 500],
    latePolicy: { kind: 'drop' },
  });
  const partitions = 4;
  const results = simulateAll(trace, grid, { partitions });
  for (const sla of [SLA, { ...SLA, p95LatencyMs: 15_000 }]) {
    const chosen = recommend(results, sla).recommended;
    if (sla !== SLA) assert.ok(chosen, 'a 15 s SLA is met on this trace');
    if (!chosen) continue;
    const exact = exactReplay(trace, chosen.candidate, { partitions });
    assert.equal(chosen.endToEndLatency.p95, exact.p95, `${chosen.label}: reported P95 vs the exact replay's`);
    assert.equal(chosen.completeness, exact.completeness, `${chosen.label}: completeness`);
    assert.ok(exact.p95 <= sla.p95LatencyMs, `${chosen.label} is recommended for P95 <= ${sla.p95LatencyMs} ms but its exact P95 is ${exact.p95} ms`);
  }
});
