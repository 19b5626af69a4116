import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeDelays } from '../../src/advisor/analyze.ts';
import { QUANTILES, quantileSorted, summarize } from '../../src/advisor/stats.ts';
import { TraceBuilder } from '../../src/advisor/trace.ts';
import { generateTrace, normalQuantile, type TraceKind } from '../../src/advisor/traces.ts';

/**
 * Tolerance of the percentile checks: the analysis is exact on the sample, so the only error is
 * the sample's own. At n = 200 000 a sample quantile's standard error is below 0.8 % of the value
 * for P50–P99 of these distributions and below 3.6 % for P99.9 (Pareto, α = 2, is the widest);
 * the bounds below are three to four standard errors, plus the 1 ms rounding of the delays
 * (observed over seeds 11–13: at most 0.3 % for P50–P95, 1.8 % for P99, 3.2 % for P99.9).
 */
const N = 200_000;
const TOLERANCE: Record<number, number> = { 0.5: 0.02, 0.9: 0.02, 0.95: 0.02, 0.99: 0.03, 0.999: 0.12 };

function assertClose(actual: number, expected: number, relative: number, what: string): void {
  const error = Math.abs(actual - expected) / expected;
  assert.ok(error <= relative, `${what}: ${actual} vs true ${expected.toFixed(1)} (error ${(error * 100).toFixed(2)} % > ${relative * 100} %)`);
}

test('exact quantiles use the nearest rank of the sorted values', () => {
  const values = Float64Array.from([5, 1, 4, 2, 3, 10, 9, 8, 7, 6]);
  const summary = summarize(values);
  assert.equal(summary.p50, 5);
  assert.equal(summary.p90, 9);
  assert.equal(summary.p95, 10);
  assert.equal(summary.max, 10);
  assert.equal(summary.min, 1);
  assert.equal(summary.mean, 5.5);
  assert.equal(quantileSorted(Float64Array.from([7]), 0.999), 7);
  assert.ok(Number.isNaN(quantileSorted(new Float64Array(0), 0.5)));
});

test('the inverse normal CDF matches tabulated values', () => {
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
  assert.ok(Math.abs(normalQuantile(0.999) - 3.090232) < 1e-5);
  assert.ok(Math.abs(normalQuantile(0.5)) < 1e-9);
});

for (const kind of ['normal', 'lognormal', 'pareto', 'step', 'bursts'] as TraceKind[]) {
  test(`${kind} trace: reported percentiles are within tolerance of the true distribution`, () => {
    const generated = generateTrace({ kind, readings: N, devices: 500, seed: 11 });
    assert.equal(generated.trace.length, N);
    for (let i = 1; i < N; i++) {
      if (generated.trace.ingestTime[i]! < generated.trace.ingestTime[i - 1]!) assert.fail(`trace not sorted by ingest time at ${i}`);
    }
    const analysis = analyzeDelays(generated.trace, { partitions: 6 });
    const keys = { 0.5: 'p50', 0.9: 'p90', 0.95: 'p95', 0.99: 'p99', 0.999: 'p999' } as const;
    for (const q of QUANTILES) {
      assertClose(analysis.overall[keys[q]], generated.delayQuantile(q), TOLERANCE[q]!, `${kind} P${q * 100}`);
    }
    assert.equal(analysis.readings, N);
    assert.equal(analysis.perPartition.reduce((sum, entry) => sum + entry.summary.count, 0), N, 'every reading in one partition');
    assert.deepEqual(analysis.skewedDevices, [], 'no clock is skewed');
  });
}

test('step trace: the drift table shows the delay moving from about 1 s to about 5 s', () => {
  const generated = generateTrace({ kind: 'step', readings: 100_000, devices: 200, seed: 3 });
  const analysis = analyzeDelays(generated.trace, { partitions: 4, driftBuckets: 10 });
  const first = analysis.drift[0]!;
  const last = analysis.drift[analysis.drift.length - 1]!;
  assertClose(first.p50, 1000, 0.05, 'median before the step');
  assertClose(last.p50, 5000, 0.05, 'median after the step');
  assert.ok(analysis.driftP95Ms > 3000, `P95 drifted by ${analysis.driftP95Ms} ms`);
});

test('a device whose clock runs a year ahead is flagged, and kept out of the worst-device ranking', () => {
  const generated = generateTrace({ kind: 'clock-ahead', readings: 50_000, devices: 100, seed: 5 });
  const analysis = analyzeDelays(generated.trace, { partitions: 4 });
  assert.deepEqual(
    analysis.skewedDevices.map((device) => [device.device, device.clock]),
    [['dev-clock-ahead', 'ahead']],
  );
  assert.equal(analysis.skewedDevices[0]!.negativeShare, 1);
  assert.ok(analysis.skewedDevices[0]!.summary.p50 < -364 * 86_400_000);
  assert.ok(!analysis.worstDevices.some((device) => device.device === 'dev-clock-ahead'));
  assert.equal(analysis.negative, 500, 'the device sent 500 readings, all stamped in the future');
  // The fleet's P99 is the regular distribution's: the year-ahead device sits in its own bin.
  assertClose(analysis.overall.p99, generated.delayQuantile(0.99), 0.05, 'fleet P99');
});

test('a gateway offline for 10 minutes raises its devices\' tail but does not flag their clocks', () => {
  const generated = generateTrace({ kind: 'gateway-offline', readings: 200_000, devices: 100, seed: 9 });
  const analysis = analyzeDelays(generated.trace, { partitions: 4, worstDevices: 10 });
  assert.deepEqual(analysis.skewedDevices, []);
  assert.equal(generated.params['gatewayDevices'], 10);
  assert.deepEqual(
    analysis.worstDevices.map((device) => device.device.startsWith('gw-1/')),
    Array(10).fill(true),
    'the ten worst devices are the gateway\'s',
  );
  // A backlog reading waits for the rest of the outage: delays spread up to 10 minutes.
  const worst = analysis.worstDevices[0]!;
  assert.ok(worst.summary.max > 590_000 && worst.summary.max < 620_000, `max delay ${worst.summary.max}`);
  const backlog = generated.params['backlogReadings']!;
  assert.equal(backlog, 10 * 600, 'ten devices, one reading a second for ten minutes');
});

test('gateway-offline refuses a trace too short to hold the outage', () => {
  assert.throws(() => generateTrace({ kind: 'gateway-offline', readings: 10_000, devices: 100 }), /at least 20 minutes/);
});

test('generation is deterministic for a seed', () => {
  const a = generateTrace({ kind: 'lognormal', readings: 1000, devices: 10, seed: 42 });
  const b = generateTrace({ kind: 'lognormal', readings: 1000, devices: 10, seed: 42 });
  const c = generateTrace({ kind: 'lognormal', readings: 1000, devices: 10, seed: 43 });
  assert.deepEqual(a.trace.ingestTime, b.trace.ingestTime);
  assert.notDeepEqual(a.trace.ingestTime, c.trace.ingestTime);
});

test('a device whose clock runs hours behind is flagged as behind', () => {
  const builder = new TraceBuilder();
  const slow = builder.deviceId('dev-slow');
  const fine = builder.deviceId('dev-fine');
  for (let i = 0; i < 100; i++) {
    builder.add(i * 1000, i * 1000 + 300, fine);
    builder.add(i * 1000 - 2 * 3_600_000, i * 1000 + 200, slow);
  }
  const analysis = analyzeDelays(builder.build(), { partitions: 2 });
  assert.deepEqual(analysis.skewedDevices.map((device) => [device.device, device.clock]), [['dev-slow', 'behind']]);
  // Half the readings are the slow device's, so the fleet's P99 is two hours; the typical device's is 300 ms.
  assert.equal(analysis.behindThresholdMs, 5 * 60_000);
});
