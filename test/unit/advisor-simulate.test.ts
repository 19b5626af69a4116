import { test } from 'node:test';
import assert from 'node:assert/strict';
import { candidateGrid, type Candidate } from '../../src/advisor/candidates.ts';
import { recommend } from '../../src/advisor/recommend.ts';
import { PartitionedReplayLog, walkReplayLog } from '../../src/advisor/replay-log.ts';
import { createLatencyTracker } from '../../src/advisor/reading-latency.ts';
import { simulate, simulateAll } from '../../src/advisor/simulate.ts';
import { LatencyHistogram } from '../../src/advisor/stats.ts';
import { TraceBuilder, resolvePartitions, type Trace } from '../../src/advisor/trace.ts';
import { generateTrace } from '../../src/advisor/traces.ts';
import { PartitionProcessor } from '../../src/core/processor.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import { advisorCaseTrace, checkAdvisorCase, type AdvisorCase } from '../fuzz/advisor-properties.ts';

const tumbling1s = (delayMs: number, latePolicy: Candidate['latePolicy'] = { kind: 'drop' }): Candidate => ({
  window: { kind: 'tumbling', sizeMs: 1000 },
  watermark: { kind: 'fixed', delayMs },
  latePolicy,
  idleTimeoutMs: 5000,
  maxDeviceClockOffsetMs: 300_000,
});

/** One device, a reading every 500 ms of event time, each arriving 100 ms later. */
function regularTrace(readings: number, extra?: (builder: TraceBuilder, device: number) => void): Trace {
  const builder = new TraceBuilder();
  const device = builder.deviceId('dev-a');
  for (let i = 0; i < readings; i++) builder.add(i * 500, i * 500 + 100, device, 0);
  extra?.(builder, device);
  return builder.build();
}

/** Within the latency histogram's resolution (bins are at most 1/64 wide, answered by their upper edge). */
function assertLatency(actual: number, expected: number, what: string): void {
  assert.ok(actual >= expected && actual <= expected * (1 + 1 / 64), `${what}: ${actual}, expected ${expected} (+1.6 %)`);
}

test('latencies follow from the log: a window closes when a reading moves the watermark past its end', () => {
  const result = simulate(regularTrace(200), tumbling1s(0), { partitions: 1, flushMs: 1000 });
  // Window [k s, k+1 s) closes on the reading stamped k+1 s, ingested 100 ms later, and is visible 1 s after.
  assertLatency(result.windowLatency.p50, 1100, 'window end → visible');
  assertLatency(result.windowLatency.p95, 1100, 'window P95');
  // The last window closes on idle ticks: 5 s after the last reading (ingest 99.6 s) the tick at 105 s.
  assert.equal(result.windowLatency.max, 106_000 - 100_000);
  // Readings at the start of a window wait 2 s (100 ms → 2.1 s), those in the middle 1.5 s.
  // 99 readings at 1.5 s, 99 at 2 s and two in the drained window: the 100th by rank is 2 s.
  assertLatency(result.endToEndLatency.p50, 2000, 'end-to-end P50');
  assert.equal(result.endToEndLatency.mean, (99 * 1500 + 99 * 2000 + 6900 + 6400) / 200);
  assertLatency(result.endToEndLatency.p95, 2000, 'end-to-end P95');
  assert.equal(result.endToEndLatency.count, 200, 'every reading has a latency');
  assert.equal(result.endToEndLatency.max, 106_000 - 99_100);
  assert.equal(result.completeness, 1);
  assert.equal(result.rows, 100);
  assert.equal(result.offered, 200);
  assert.ok(result.maxWatermarkLeadMs <= 0);
});

test('a reading that misses its window is dropped under a short delay and counted under a long one', () => {
  const trace = regularTrace(200, (builder, device) => builder.add(10_000, 50_000, device, 0));
  const short = simulate(trace, tumbling1s(0), { partitions: 1 });
  assert.equal(short.lateDropped, 1);
  assert.equal(short.completeness, 200 / 201);
  assert.equal(short.lateDropRate, 1 / 201);
  assert.equal(short.endToEndLatency.count, 200, 'a dropped reading has no latency');
  const long = simulate(trace, tumbling1s(60_000), { partitions: 1 });
  assert.equal(long.lateDropped, 0);
  assert.equal(long.completeness, 1);
});

test('under reemit a late reading corrects its window: complete in the end, not on time', () => {
  const trace = regularTrace(200, (builder, device) => builder.add(10_000, 50_000, device, 0));
  const result = simulate(trace, tumbling1s(0, { kind: 'reemit', allowedLatenessMs: 60_000 }), { partitions: 1, flushMs: 1000 });
  assert.equal(result.lateAbsorbed, 1);
  assert.equal(result.completeness, 1);
  assert.equal(result.onTimeCompleteness, 200 / 201);
  assert.equal(result.endToEndLatency.count, 201);
});

test('more delay never lowers completeness nor speeds results up (log-normal trace, fixed grid)', () => {
  const { trace } = generateTrace({ kind: 'lognormal', readings: 60_000, devices: 200, seed: 2 });
  const delays = [0, 250, 500, 1000, 2000, 4000];
  const results = simulateAll(trace, delays.map((delay) => ({ ...tumbling1s(delay), window: { kind: 'tumbling', sizeMs: 5000 } })), { partitions: 4 });
  for (let i = 1; i < results.length; i++) {
    const before = results[i - 1]!;
    const after = results[i]!;
    assert.ok(after.completeness >= before.completeness, `${after.label} completeness ${after.completeness} < ${before.completeness}`);
    assert.ok(after.endToEndLatency.p50 >= before.endToEndLatency.p50, `${after.label} P50 ${after.endToEndLatency.p50} < ${before.endToEndLatency.p50}`);
  }
  assert.ok(results[0]!.completeness < 0.99, 'no delay drops readings of a log-normal stream');
  assert.equal(results[results.length - 1]!.completeness, 1, '4 s is beyond this trace\'s maximum delay plus a window');
});

test('sliding windows offer each value to size/slide windows; sessions to one', () => {
  const { trace } = generateTrace({ kind: 'normal', readings: 20_000, devices: 50, seed: 4 });
  const sliding = simulate(trace, { ...tumbling1s(5000), window: { kind: 'sliding', sizeMs: 10_000, slideMs: 5000 } }, { partitions: 3 });
  assert.equal(sliding.offered, 40_000);
  assert.equal(sliding.completeness, 1);
  assert.equal(sliding.endToEndLatency.count, 20_000, 'each reading is timed once, at its first window');
  const session = simulate(trace, { ...tumbling1s(5000), window: { kind: 'session', gapMs: 3000 } }, { partitions: 3 });
  assert.equal(session.offered, 20_000);
  assert.equal(session.completeness, 1);
  assert.equal(session.endToEndLatency.count, 20_000);
});

test('the pooled replay emits exactly the rows of a plain run with fresh records (the processor keeps no record)', () => {
  const { trace } = generateTrace({ kind: 'lognormal', readings: 20_000, devices: 40, seed: 8 });
  const candidate: Candidate = {
    window: { kind: 'tumbling', sizeMs: 2000 },
    watermark: { kind: 'adaptive', quantile: 0.9, marginMs: 0, floorMs: 0, ceilingMs: 30_000, horizonMs: 60_000 },
    latePolicy: { kind: 'drop' },
    idleTimeoutMs: 5000,
    maxDeviceClockOffsetMs: 300_000,
  };
  const partitions = 3;
  const simulated = simulate(trace, candidate, { partitions, collectRows: true });

  const partitionOf = resolvePartitions(trace, partitions);
  const processors = Array.from({ length: partitions }, (_, partition) => new PartitionProcessor({ pipeline: 'plain', partition, ...candidate }));
  const offsets = new Array<number>(partitions).fill(0);
  const rows = new Map<string, number>();
  const out = {
    emitRow: (row: AggregateRow) => void rows.set(`${row.device}\u0000${row.windowStart}`, row.count),
    emitLate: () => undefined,
  };
  const sequence = new Map<string, number>();
  const nextTick = walkReplayLog(trace, partitionOf, 1000, {
    reading: (index, partition) => {
      const device = trace.devices[trace.device[index]!]!;
      const seq = sequence.get(device) ?? 0;
      sequence.set(device, seq + 1);
      const record = { v: 1 as const, tenant: 'trace', device, id: `${device}:${seq}`, eventTime: trace.eventTime[index]!, ingestTime: trace.ingestTime[index]!, metrics: { value: 1 } };
      processors[partition]!.process(record, offsets[partition]!++, out);
    },
    tick: (time) => processors.forEach((processor, partition) => processor.process({ v: 1, tick: true, ingestTime: time, source: 't' }, offsets[partition]!++, out)),
  });
  // One far tick closes everything (no readings follow, so the rows cannot differ from a slow drain).
  processors.forEach((processor, partition) => processor.process({ v: 1, tick: true, ingestTime: nextTick + 3_600_000, source: 't' }, offsets[partition]!++, out));
  assert.equal(rows.size, simulated.finalRows!.size);
  assert.deepEqual(new Map([...rows].sort()), new Map([...simulated.finalRows!].sort()));
});

/** The trace without one device's readings. */
function without(trace: Trace, deviceName: string): Trace {
  const builder = new TraceBuilder(trace.length);
  for (let i = 0; i < trace.length; i++) {
    const name = trace.devices[trace.device[i]!]!;
    if (name === deviceName) continue;
    builder.add(trace.eventTime[i]!, trace.ingestTime[i]!, builder.deviceId(name, trace.tenants[trace.device[i]!]), trace.partition[i]!);
  }
  return builder.build();
}

test('a device a year ahead neither moves the watermark nor skews the recommendation', () => {
  const generated = generateTrace({ kind: 'clock-ahead', readings: 60_000, devices: 100, seed: 6 });
  const clean = without(generated.trace, 'dev-clock-ahead');
  assert.equal(clean.length, 59_400);
  const grid = candidateGrid({
    windows: [{ kind: 'tumbling', sizeMs: 5000 }],
    fixedDelaysMs: [0, 500, 1000, 2000, 5000],
    quantiles: [0.9, 0.99],
    marginsMs: [0, 500],
    latePolicy: { kind: 'drop' },
  });
  // Partition by device name in both runs so the other devices keep their partitions.
  const options = { partitions: 4 };
  const withAhead = simulateAll(generated.trace, grid, options);
  const withoutAhead = simulateAll(clean, grid, options);
  for (let i = 0; i < grid.length; i++) {
    const a = withAhead[i]!;
    const b = withoutAhead[i]!;
    assert.ok(a.maxWatermarkLeadMs <= 0, `${a.label}: a watermark ran ${a.maxWatermarkLeadMs} ms ahead of the log`);
    assert.equal(a.unresolved, 600, `${a.label}: the 600 year-ahead readings stay in windows that never close`);
    // The core advances a partition's clock by min(event, ingest): a reading stamped a year ahead
    // counts as one that arrived without delay, so at most the ingest clock (a 0 ms delay device).
    assert.ok(Math.abs(a.completeness - b.completeness) < 1e-3, `${a.label}: completeness ${a.completeness} vs ${b.completeness}`);
    const p95 = a.endToEndLatency.p95;
    assert.ok(Math.abs(p95 - b.endToEndLatency.p95) <= 0.02 * b.endToEndLatency.p95, `${a.label}: P95 ${p95} vs ${b.endToEndLatency.p95}`);
  }
  const sla = { p95LatencyMs: 8000, minCompleteness: 0.999, latency: 'end-to-end' as const };
  const chosen = recommend(withAhead, sla).recommended;
  const reference = recommend(withoutAhead, sla).recommended;
  assert.ok(chosen && reference, 'something meets the SLA');
  assert.equal(chosen.label, reference.label);
});

test('ticks every second of ingest time, and a long silence is shortened', () => {
  const builder = new TraceBuilder();
  const device = builder.deviceId('d');
  builder.add(0, 500, device, 0);
  builder.add(1000, 3_500, device, 0);
  builder.add(2000, 30 * 86_400_000, device, 0);
  const trace = builder.build();
  const ticks: number[] = [];
  const readings: number[] = [];
  walkReplayLog(trace, Int32Array.from([0, 0, 0]), 1000, { reading: (index) => readings.push(index), tick: (time) => ticks.push(time) });
  assert.deepEqual(readings, [0, 1, 2]);
  assert.deepEqual(ticks.slice(0, 3), [1000, 2000, 3000]);
  assert.ok(ticks.length <= 2 * 3600 + 10, `${ticks.length} ticks for a 30-day silence`);
  assert.equal(ticks[ticks.length - 1], 30 * 86_400_000);
});

test('the log split by partition gives each partition the records the interleaved log gives it, in the same order', () => {
  const builder = new TraceBuilder();
  const devices = Array.from({ length: 12 }, (_, n) => builder.deviceId(`device-${n}`));
  let time = 0;
  for (let i = 0; i < 400; i++) {
    // Irregular arrivals, a three-hour silence in the middle (shortened by the log), readings at tick instants.
    time += i === 200 ? 3 * 3_600_000 : i % 7 === 0 ? 1000 : 137;
    builder.add(time - 300, time, devices[i % devices.length]!, -1);
  }
  const trace = builder.build();
  const partitions = 3;
  const partitionOf = resolvePartitions(trace, partitions);
  const expected: string[][] = Array.from({ length: partitions }, () => []);
  const lastTick = walkReplayLog(trace, partitionOf, 1000, {
    reading: (index, partition) => expected[partition]!.push(`r${index}`),
    tick: (at) => expected.forEach((records) => records.push(`t${at}`)),
  });
  const log = new PartitionedReplayLog(trace, partitionOf, partitions, 1000);
  assert.equal(log.nextTick, lastTick);
  for (let partition = 0; partition < partitions; partition++) {
    const actual: string[] = [];
    const tickNumbers: number[] = [];
    log.walkPartition(partition, {
      reading: (index) => actual.push(`r${index}`),
      tick: (at, number) => {
        actual.push(`t${at}`);
        tickNumbers.push(number);
      },
    });
    assert.deepEqual(actual, expected[partition], `partition ${partition}`);
    assert.deepEqual(tickNumbers, Array.from({ length: log.tickTimes.length }, (_, k) => k));
    assert.ok(actual.some((record) => record.startsWith('r')), `partition ${partition} has readings`);
  }
});

test('reading latency: a row settles exactly its device\'s held readings stamped within its window, over many chunks', () => {
  const builder = new TraceBuilder();
  const a = builder.deviceId('a');
  const b = builder.deviceId('b');
  builder.add(0, 0, a, 0);
  builder.add(0, 0, b, 0);
  const trace = builder.build();
  const histogram = new LatencyHistogram();
  const tracker = createLatencyTracker(trace, histogram);
  tracker.startPartition(0);
  // 100 readings of each device, interleaved; ingest time i, event time i (device a) or i + 1000 (device b).
  for (let i = 0; i < 100; i++) {
    tracker.held(a, i, i);
    tracker.held(b, i + 1000, i);
  }
  const row = (device: string, windowEnd: number, windowStart = 0): AggregateRow =>
    ({ tenant: trace.tenants[0]!, device, windowStart, windowEnd, partition: 0 }) as unknown as AggregateRow;
  // Device a's readings 0..39: latency 1000 − i each.
  tracker.emitted(row('a', 40), 1000);
  let expectedSum = 0;
  for (let i = 0; i < 40; i++) expectedSum += 1000 - i;
  assert.equal(histogram.count, 40);
  assert.equal(histogram.summary().mean, expectedSum / 40);
  // A window of a that closes before an earlier one (a device clock shift): readings 50..59 only.
  tracker.emitted(row('a', 60, 50), 1500);
  for (let i = 50; i < 60; i++) expectedSum += 1500 - i;
  assert.equal(histogram.count, 50);
  assert.equal(histogram.summary().mean, expectedSum / 50);
  // A later row of a: the 50 kept readings (moved within their chunks) and no others.
  tracker.emitted(row('a', 1_000_000), 2000);
  for (let i = 40; i < 100; i++) if (i < 50 || i >= 60) expectedSum += 2000 - i;
  assert.equal(histogram.count, 100);
  assert.equal(histogram.summary().mean, expectedSum / 100);
  tracker.emitted(row('a', 1_000_000), 3000);
  assert.equal(histogram.count, 100, 'settled readings are not settled again');
  // Device b was untouched; a new partition drops what is still held.
  tracker.startPartition(1);
  tracker.emitted(row('b', 1_000_000), 4000);
  assert.equal(histogram.count, 100, 'held readings of the previous partition are not settled by this one');
  tracker.held(b, 5, 5);
  tracker.emitted(row('b', 10), 4000);
  assert.equal(histogram.count, 101);
});

/** Four devices on one partition, each sending every 250 ms for 60 s with 100–500 ms delays. */
function clockCase(offsets: readonly number[], candidate: Partial<Candidate> = {}): AdvisorCase {
  return {
    seed: 3,
    durationMs: 60_000,
    delays: 'jitter',
    devices: offsets.map((offsetMs, d) => ({ periodMs: 250, phaseMs: d * 50, offsetMs, jumpAtMs: Number.MAX_SAFE_INTEGER, laterOffsetMs: offsetMs })),
    scattered: false,
    partitions: 1,
    flushMs: 1000,
    candidate: { ...tumbling1s(1000), window: { kind: 'tumbling', sizeMs: 5000 }, ...candidate },
  };
}

test('a device 30 s ahead closes its windows first, and every other reading still gets its latency (exact replay)', () => {
  const input = clockCase([0, 0, 0, 30_000]);
  checkAdvisorCase(input);
  const result = simulate(advisorCaseTrace(input), input.candidate, { partitions: 1 });
  // Apart from the readings the ahead device sends before its shift is learned (late under a 1 s delay), all have a latency.
  assert.ok(result.endToEndLatency.count >= 0.95 * result.readings, `${result.endToEndLatency.count} of ${result.readings} readings have a latency`);
});

test('devices shifted behind are settled by their own rows, not by another device\'s row of a later window (exact replay)', () => {
  for (const window of [{ kind: 'tumbling', sizeMs: 5000 }, { kind: 'sliding', sizeMs: 10_000, slideMs: 5000 }, { kind: 'session', gapMs: 3000 }] as const) {
    checkAdvisorCase(clockCase([0, -4000, -8000, -12_000], { window }));
    checkAdvisorCase(clockCase([0, -8000, 4000, 30_000], { window, watermark: { kind: 'fixed', delayMs: 3000 } }));
  }
});
