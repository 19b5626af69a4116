import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceClocks, ENTER_AFTER_MS, EVICT_AFTER_MS, MAX_TRACKED } from '../../src/core/device-clock.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { PartitionProcessor, type ProcessorOutput, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord, ReadingsTopicRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import type { WindowSpec } from '../../src/core/windows.ts';

const T0 = 1_700_000_000_000;
const SKEW = 120_000;

function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How far a device's clock runs behind (positive) or ahead (negative) at an ingest instant. */
type ClockOffset = (ingestTime: number) => number;

/**
 * A partition's log: every device reads every 500 ms with a network delay of 50–800 ms, its event
 * time stamped by its own clock; then idle ticks for 200 s so that every window closes.
 */
function generate(devices: Record<string, ClockOffset>, durationMs: number, seed = 7): ReadingsTopicRecord[] {
  const random = prng(seed);
  const names = Object.keys(devices);
  const records: ReadingsTopicRecord[] = [];
  const stepMs = 500 / names.length;
  let n = 0;
  for (let ingest = T0; ingest < T0 + durationMs; ingest += stepMs) {
    const device = names[n % names.length]!;
    const ingestTime = Math.floor(ingest);
    const delay = 50 + Math.floor(random() * 750);
    records.push({
      v: 1,
      tenant: 'acme',
      device,
      id: `${device}-${n}`,
      eventTime: ingestTime - delay - devices[device]!(ingestTime),
      ingestTime,
      metrics: { t: Math.round(random() * 1000) / 10 },
    });
    n++;
  }
  for (let tick = T0 + durationMs; tick <= T0 + durationMs + 200_000; tick += 1000) {
    records.push({ v: 1, tick: true, ingestTime: tick, source: 'bridge' });
  }
  return records;
}

type Event = readonly ['row', AggregateRow] | readonly ['late', string, string, number];

class Recorder implements ProcessorOutput {
  readonly events: Event[] = [];
  emitRow(row: AggregateRow): void {
    this.events.push(['row', row]);
  }
  emitLate(reading: ReadingRecord, metric: string, offset: number): void {
    this.events.push(['late', reading.id, metric, offset]);
  }
  rows(device?: string): AggregateRow[] {
    const rows: AggregateRow[] = [];
    for (const event of this.events) if (event[0] === 'row' && (device === undefined || event[1].device === device)) rows.push(event[1]);
    return rows;
  }
}

function specOf(window: WindowSpec = { kind: 'tumbling', sizeMs: 5000 }, maxDeviceClockOffsetMs?: number): ProcessorSpec {
  return {
    pipeline: 'clocks',
    partition: 0,
    window,
    watermark: { kind: 'fixed', delayMs: 2000 },
    latePolicy: { kind: 'reemit', allowedLatenessMs: 30_000 },
    idleTimeoutMs: 3000,
    ...(maxDeviceClockOffsetMs === undefined ? {} : { maxDeviceClockOffsetMs }),
  };
}

function run(spec: ProcessorSpec, records: readonly ReadingsTopicRecord[], during?: (processor: PartitionProcessor, offset: number) => void): { processor: PartitionProcessor; out: Recorder } {
  const processor = new PartitionProcessor(spec);
  const out = new Recorder();
  records.forEach((record, offset) => {
    processor.process(record, offset, out);
    during?.(processor, offset);
  });
  return { processor, out };
}

/** The final row of every window key, checking that each key's versions only grow (no second row from scratch). */
function finalRows(rows: readonly AggregateRow[]): Map<string, AggregateRow> {
  const final = new Map<string, AggregateRow>();
  for (const row of rows) {
    const key = `${row.device}/${row.metric}/${row.windowStart}`;
    const previous = final.get(key);
    if (previous !== undefined) {
      assert.ok(row.version > previous.version, `window ${key} re-emitted with version ${row.version} after ${previous.version}`);
    }
    final.set(key, row);
  }
  return final;
}

function countedReadings(rows: readonly AggregateRow[], device: string): number {
  let total = 0;
  for (const row of finalRows(rows).values()) if (row.device === device) total += row.count;
  return total;
}

function readingsOf(records: readonly ReadingsTopicRecord[], device: string, from = Number.NEGATIVE_INFINITY, to = Number.POSITIVE_INFINITY): ReadingRecord[] {
  return records.filter((r): r is ReadingRecord => !('tick' in r) && r.device === device && r.ingestTime >= from && r.ingestTime < to);
}

const normal: ClockOffset = () => 0;
const behind: ClockOffset = () => SKEW;
const ahead: ClockOffset = () => -SKEW;

for (const window of [{ kind: 'tumbling', sizeMs: 5000 }, { kind: 'sliding', sizeMs: 10_000, slideMs: 5000 }, { kind: 'session', gapMs: 3000 }] as WindowSpec[]) {
  test(`a device 2 min behind has every reading counted once learned, other devices' rows are unchanged: ${window.kind}`, () => {
    const records = generate({ a: normal, b: normal, c: normal, late: behind, d: normal }, 90_000);
    let shiftedSeen = 0;
    let maxOpenDifference = 0;
    const without = new PartitionProcessor(specOf(window, 0));
    const withoutOut = new Recorder();
    const { processor, out } = run(specOf(window), records, (processor, offset) => {
      without.process(records[offset]!, offset, withoutOut);
      shiftedSeen = Math.max(shiftedSeen, processor.deviceClockCounts().shifted);
      maxOpenDifference = Math.max(maxOpenDifference, processor.openWindows() - without.openWindows());
    });
    assert.equal(shiftedSeen, 1);

    // Ordinary devices: the same rows, in the same order, as without the feature.
    for (const device of ['a', 'b', 'c', 'd']) assert.deepEqual(out.rows(device), withoutOut.rows(device), device);
    // Without the feature every reading of the skewed device is lost.
    assert.equal(withoutOut.rows('late').length, 0);

    // With it, everything but the learning period counts, and its windows close once, on time.
    const all = readingsOf(records, 'late');
    const learned = readingsOf(records, 'late', all[0]!.ingestTime + ENTER_AFTER_MS);
    assert.equal(processor.stats.lateDropped, all.length - learned.length);
    const rows = out.rows('late');
    assert.ok(rows.length > 0);
    assert.ok(rows.every((row) => row.lateReadings === 0), 'no window of the skewed device needed a late correction');
    if (window.kind === 'tumbling') assert.equal(countedReadings(rows, 'late'), learned.length);
    if (window.kind === 'session') assert.equal(rows.reduce((sum, row) => sum + row.count, 0), learned.length);
    finalRows(out.rows());
    // Memory: only the skewed device keeps ~2 min more of windows open.
    const perPeriod = window.kind === 'sliding' ? 2 : 1;
    assert.ok(maxOpenDifference <= perPeriod * (SKEW / 5000 + 3), `open windows grew by ${maxOpenDifference}`);
  });
}

test('a device 2 min ahead is not shifted: output identical to the feature turned off, and complete', () => {
  const records = generate({ a: normal, b: normal, early: ahead }, 60_000);
  const on = run(specOf(), records, (processor) => assert.equal(processor.deviceClockCounts().tracked, 0));
  const off = run(specOf(undefined, 0), records);
  assert.deepEqual(on.out.events, off.out.events);
  assert.equal(countedReadings(on.out.rows(), 'early'), readingsOf(records, 'early').length);
  assert.ok(on.processor.stats.eventTimeAhead > 0);
});

test('a clock fixed while 2 min behind: nothing lost after learning, nothing counted twice', () => {
  const fixedAt = T0 + 60_000;
  const records = generate({ a: normal, fixed: (t) => (t < fixedAt ? SKEW : 0), b: normal }, 120_000);
  let shiftAfterFix = -1;
  const { processor, out } = run(specOf(), records, (processor, offset) => {
    const record = records[offset]!;
    if (!('tick' in record) && record.device === 'fixed' && record.ingestTime >= fixedAt && shiftAfterFix < 0) {
      shiftAfterFix = processor.deviceClockCounts().shifted;
    }
  });
  assert.equal(shiftAfterFix, 0, 'the first reading with a fixed clock ends the shift');
  const all = readingsOf(records, 'fixed');
  const learning = readingsOf(records, 'fixed', 0, all[0]!.ingestTime + ENTER_AFTER_MS).length;
  assert.equal(processor.stats.lateDropped, learning);
  assert.equal(countedReadings(out.rows(), 'fixed'), all.length - learning);
  // Every counted reading sits in the window its event time names (no reading counted in two).
  const expected = new Map<number, number>();
  for (const reading of readingsOf(records, 'fixed', all[0]!.ingestTime + ENTER_AFTER_MS)) {
    const start = reading.eventTime - (reading.eventTime % 5000);
    expected.set(start, (expected.get(start) ?? 0) + 1);
  }
  const actual = new Map<number, number>();
  for (const row of finalRows(out.rows('fixed')).values()) actual.set(row.windowStart, row.count);
  assert.deepEqual([...actual].sort((x, y) => x[0] - y[0]), [...expected].sort((x, y) => x[0] - y[0]));
});

test('a clock that falls 2 min behind never reopens a window it already emitted', () => {
  const fallsAt = T0 + 60_000;
  const records = generate({ a: normal, jumps: (t) => (t < fallsAt ? 0 : SKEW), b: normal }, 240_000);
  const { processor, out } = run(specOf(), records);
  // finalRows asserts that every key's versions only grow: a reopened window would start over.
  const rows = finalRows(out.rows('jumps'));
  const before = readingsOf(records, 'jumps', 0, fallsAt);
  const lastEventBefore = Math.max(...before.map((r) => r.eventTime));
  const fresh = readingsOf(records, 'jumps', fallsAt + ENTER_AFTER_MS).filter((r) => r.eventTime - (r.eventTime % 5000) > lastEventBefore);
  const counted = [...rows.values()].reduce((sum, row) => sum + row.count, 0);
  // Everything before the jump, and everything stamped after its last window, counts.
  assert.equal(counted, before.length + fresh.length);
  assert.equal(processor.deviceClockCounts().shifted, 1);
});

test('restoring a snapshot at any point reproduces the uninterrupted output exactly', () => {
  const records = generate({ a: normal, late: behind, fix: (t) => (t < T0 + 40_000 ? SKEW : 0), jump: (t) => (t < T0 + 30_000 ? 0 : SKEW) }, 80_000, 11);
  for (const window of [{ kind: 'tumbling', sizeMs: 5000 }, { kind: 'session', gapMs: 3000 }] as WindowSpec[]) {
    const spec = specOf(window);
    const full = run(spec, records);
    for (let cut = 0; cut < records.length; cut += 97) {
      const first = new PartitionProcessor(spec);
      const out = new Recorder();
      for (let offset = 0; offset < cut; offset++) first.process(records[offset]!, offset, out);
      const restored = PartitionProcessor.restore(spec, JSON.parse(JSON.stringify(first.snapshot())) as string);
      for (let offset = cut; offset < records.length; offset++) restored.process(records[offset]!, offset, out);
      assert.deepEqual(out.events, full.out.events, `${window.kind}: restored at ${cut}`);
      assert.deepEqual(restored.stats, full.processor.stats);
    }
  }
});

test('device state stays bounded: silent devices are evicted by log time, at most MAX_TRACKED are kept', () => {
  const clocks = new DeviceClocks({ maxOffsetMs: 300_000, coveredDelayMs: 2000, quantumMs: 1000 });
  for (let i = 0; i < MAX_TRACKED + 5000; i++) clocks.observe('acme', `d${i}`, T0 - SKEW, T0 + i);
  assert.equal(clocks.counts().tracked, MAX_TRACKED);
  // Ordinary readings create no state.
  for (let i = 0; i < 1000; i++) clocks.observe('acme', `n${i}`, T0 + 100_000, T0 + 100_300);
  assert.equal(clocks.counts().tracked, MAX_TRACKED);
  // One device keeps sending (shifted); the rest go silent and are forgotten.
  for (let t = T0 + 100_000; t <= T0 + 100_000 + EVICT_AFTER_MS + 120_000; t += 1000) clocks.observe('acme', 'd1', t - SKEW, t);
  assert.deepEqual(clocks.counts(), { tracked: 1, shifted: 1, beyondCeiling: 0 });
  assert.equal(clocks.shiftOf('acme', 'd1'), SKEW);
  assert.ok(JSON.stringify(clocks.snapshot()).length < 200);
});

test('offsets beyond the ceiling are not followed but counted; spikes do not shift; 0 turns it off', () => {
  const clocks = new DeviceClocks({ maxOffsetMs: 60_000, coveredDelayMs: 2000, quantumMs: 1000 });
  for (let t = T0; t < T0 + 30_000; t += 500) {
    assert.equal(clocks.observe('acme', 'far', t - SKEW, t), 0);
    // A device whose delays spike above the covered delay now and then.
    clocks.observe('acme', 'spiky', t - (t % 2000 === 0 ? 200 : 5000), t);
  }
  assert.deepEqual(clocks.counts(), { tracked: 2, shifted: 0, beyondCeiling: 1 });
  const off = new DeviceClocks({ maxOffsetMs: 0, coveredDelayMs: 2000, quantumMs: 1000 });
  for (let t = T0; t < T0 + 30_000; t += 500) assert.equal(off.observe('acme', 'late', t - SKEW, t), 0);
  assert.equal(off.counts().tracked, 0);
  assert.throws(() => new PartitionProcessor(specOf(undefined, -1)), ConfigError);
});

test('hysteresis: the shift follows a lower minimum at once, a higher one only after a full bucket', () => {
  const clocks = new DeviceClocks({ maxOffsetMs: 300_000, coveredDelayMs: 2000, quantumMs: 1000 });
  let t = T0;
  for (; t <= T0 + ENTER_AFTER_MS; t += 500) clocks.observe('acme', 'x', t - 60_000, t);
  assert.equal(clocks.shiftOf('acme', 'x'), 60_000);
  // Small changes (within half the covered delay) do not move it.
  for (let i = 0; i < 40; i++, t += 500) clocks.observe('acme', 'x', t - 60_000 - (i % 2) * 800, t);
  assert.equal(clocks.shiftOf('acme', 'x'), 60_000);
  // A lower offset is followed at once.
  t += 500;
  clocks.observe('acme', 'x', t - 30_000, t);
  assert.equal(clocks.shiftOf('acme', 'x'), 30_000);
  // A higher one only after it held for the previous bucket and the current one.
  const raisedAt = t;
  for (; t < raisedAt + ENTER_AFTER_MS; t += 500) {
    clocks.observe('acme', 'x', t - 90_000, t);
  }
  assert.equal(clocks.shiftOf('acme', 'x'), 30_000);
  for (; t < raisedAt + 3 * ENTER_AFTER_MS; t += 500) clocks.observe('acme', 'x', t - 90_000, t);
  assert.equal(clocks.shiftOf('acme', 'x'), 90_000);
});
