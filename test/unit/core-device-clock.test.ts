import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../../src/util/random.ts';
import { ENTER_AFTER_MS } from '../../src/core/device-clock.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { PartitionProcessor, type ProcessorOutput, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord, ReadingsTopicRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import type { WindowSpec } from '../../src/core/windows.ts';

const T0 = 1_700_000_000_000;
const SKEW = 120_000;


/** How far a device's clock runs behind (positive) or ahead (negative) at an ingest instant. */
type ClockOffset = (ingestTime: number) => number;

/**
 * A partition's log: every device reads every 500 ms with a network delay of 50–800 ms, its event
 * time stamped by its own clock; then idle ticks for 200 s so that every window closes.
 */
function generate(devices: Record<string, ClockOffset>, durationMs: number, seed = 7): ReadingsTopicRecord[] {
  const random = mulberry32(seed);
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

/** Records the partition watermark at which every row was emitted. */
class TimedRecorder extends Recorder {
  readonly emittedAt = new Map<AggregateRow, number>();
  constructor(private readonly processor: PartitionProcessor) {
    super();
  }
  override emitRow(row: AggregateRow): void {
    super.emitRow(row);
    this.emittedAt.set(row, this.processor.watermark());
  }
}

/**
 * How long after the device's own clock passed a window's end its row was emitted, in watermark
 * time: emission watermark − (windowEnd − how far the clock runs ahead).
 */
function lagOnOwnClock(out: TimedRecorder, device: string, aheadMs: number): number[] {
  return out.rows(device).map((row) => out.emittedAt.get(row)! - (row.windowEnd - aheadMs));
}

for (const window of [{ kind: 'tumbling', sizeMs: 5000 }, { kind: 'sliding', sizeMs: 10_000, slideMs: 5000 }, { kind: 'session', gapMs: 3000 }] as WindowSpec[]) {
  test(`a device 2 min ahead has its windows closed on its own clock once learned, every reading counted, other devices' rows unchanged: ${window.kind}`, () => {
    const records = generate({ a: normal, b: normal, early: ahead, c: normal }, 90_000);
    const processor = new PartitionProcessor(specOf(window));
    const out = new TimedRecorder(processor);
    const without = new PartitionProcessor(specOf(window, 0));
    const withoutOut = new TimedRecorder(without);
    let aheadSeen = 0;
    let maxOpen = 0;
    let maxOpenWithout = 0;
    records.forEach((record, offset) => {
      processor.process(record, offset, out);
      without.process(record, offset, withoutOut);
      aheadSeen = Math.max(aheadSeen, processor.deviceClockCounts().ahead);
      maxOpen = Math.max(maxOpen, processor.openWindows());
      maxOpenWithout = Math.max(maxOpenWithout, without.openWindows());
    });
    assert.equal(aheadSeen, 1);
    assert.equal(processor.deviceClockCounts().behind, 0);

    // Ordinary devices: the same rows, in the same order, as without the feature.
    for (const device of ['a', 'b', 'c']) assert.deepEqual(out.rows(device), withoutOut.rows(device), device);

    // Every reading of the device ahead counts (none is late, not even while it was learned).
    const all = readingsOf(records, 'early');
    const perReading = window.kind === 'sliding' ? 2 : 1;
    assert.equal(processor.stats.lateDropped, 0);
    assert.ok(out.rows('early').every((row) => row.lateReadings === 0));
    assert.equal(countedReadings(out.rows('early'), 'early'), perReading * all.length);
    assert.equal(countedReadings(withoutOut.rows('early'), 'early'), perReading * all.length);
    finalRows(out.rows());

    // Without the feature its windows close 2 min after its own clock passed their end; with it,
    // about when an ordinary device's would: its largest network delay rounded up to the quantum,
    // plus one watermark step (a 1 s tick after the data). Windows opened while it was learned
    // close as soon as it is learned.
    assert.ok(Math.min(...lagOnOwnClock(withoutOut, 'early', SKEW)) >= SKEW);
    const learnedAt = all[0]!.ingestTime + ENTER_AFTER_MS;
    const rows = out.rows('early');
    const lags = lagOnOwnClock(out, 'early', SKEW);
    const afterLearning = lags.filter((_, i) => rows[i]!.windowEnd - SKEW > learnedAt + 1000);
    assert.ok(afterLearning.length > 0);
    assert.ok(Math.max(...afterLearning) <= 3000, `lag after learning up to ${Math.max(...afterLearning)} ms`);
    assert.ok(Math.min(...lags) >= 0, 'no window closes before its end on the device clock');
    assert.ok(Math.max(...lags) <= ENTER_AFTER_MS + 3000, `lag up to ${Math.max(...lags)} ms`);
    // Memory: the device ahead no longer keeps 2 min of windows open.
    if (window.kind !== 'session') assert.ok(maxOpen + 10 <= maxOpenWithout, `open windows ${maxOpen} vs ${maxOpenWithout}`);
  });
}

const policies: Array<ProcessorSpec['latePolicy']> = [
  { kind: 'drop' },
  { kind: 'late-topic' },
  { kind: 'reemit', allowedLatenessMs: 30_000 },
  { kind: 'reemit', allowedLatenessMs: 180_000 },
];

/**
 * A clock set back: fully (2 min ahead → on time) or partly (→ 1 min ahead, still shifted). Its
 * next readings name windows it already used up while ahead: emitted, and purged unless the
 * allowed lateness outlasts the offset. A session still open when the clock is fixed may grow
 * into the span of an emitted one: its readings are counted there (a session's key is its start,
 * which differs), only a session that would be opened inside that span is refused.
 */
const fixedCases = (['fixed', 'partly fixed'] as const).flatMap((fix) =>
  ([{ kind: 'tumbling', sizeMs: 5000 }, { kind: 'session', gapMs: 3000 }] as WindowSpec[]).flatMap((window) =>
    policies.map((latePolicy) => ({ fix, afterMs: fix === 'fixed' ? 0 : -SKEW / 2, window, latePolicy })),
  ),
);
for (const { fix, afterMs, window, latePolicy } of fixedCases) {
  const name = latePolicy.kind === 'reemit' ? `reemit ${latePolicy.allowedLatenessMs / 1000} s` : latePolicy.kind;
  test(`a clock ${fix} while 2 min ahead: no key emitted again with a lower version, late readings follow the policy and are counted (${window.kind}, ${name})`, () => {
    const fixedAt = T0 + 60_000;
    const records = generate({ a: normal, set: (t) => (t < fixedAt ? -SKEW : afterMs), b: normal }, 240_000);
    const spec: ProcessorSpec = { ...specOf(window), latePolicy };
    let aheadBeforeFix = 0;
    let aheadAfterFix = -1;
    const { processor, out } = run(spec, records, (processor, offset) => {
      const record = records[offset]!;
      if ('tick' in record || record.device !== 'set') return;
      if (record.ingestTime < fixedAt) aheadBeforeFix = processor.deviceClockCounts().ahead;
      else if (aheadAfterFix < 0) aheadAfterFix = processor.deviceClockCounts().ahead;
    });
    assert.equal(aheadBeforeFix, 1, 'shifted ahead before the fix');
    assert.equal(aheadAfterFix, afterMs === 0 ? 0 : 1, 'the first reading with a fixed clock ends the shift (or lowers it)');

    // Every key's versions only grow (finalRows asserts it): no window was opened again.
    const rows = finalRows(out.rows());
    const off = run({ ...spec, maxDeviceClockOffsetMs: 0 }, records);
    for (const device of ['a', 'b']) {
      assert.deepEqual(out.rows(device), off.out.rows(device), device);
      assert.equal(countedReadings(out.rows(device), device), readingsOf(records, device).length);
    }

    // Each reading of the device is counted once or late once (ordinary devices have none late).
    const all = readingsOf(records, 'set');
    const counted = [...rows.values()].filter((row) => row.device === 'set').reduce((sum, row) => sum + row.count, 0);
    const stats = processor.stats;
    const late = stats.lateDropped + stats.lateToTopic;
    assert.equal(counted + late, all.length);
    const someLate = !(window.kind === 'session' && afterMs === 0);
    if (latePolicy.kind === 'drop') assert.ok((stats.lateDropped > 0) === someLate && stats.lateToTopic === 0);
    if (latePolicy.kind === 'late-topic') {
      assert.ok((stats.lateToTopic > 0) === someLate && stats.lateDropped === 0);
      const lateIds = new Set(out.events.filter((event) => event[0] === 'late').map((event) => event[1] as string));
      assert.equal(lateIds.size, stats.lateToTopic);
      const byId = new Map(all.map((reading) => [reading.id, reading]));
      for (const id of lateIds) {
        // Late only between the fix and the end of the event times the device used up ahead.
        const reading = byId.get(id)!;
        assert.ok(reading.ingestTime >= fixedAt && reading.ingestTime < fixedAt + SKEW + 10_000, id);
      }
      if (window.kind === 'tumbling') {
        // Every counted reading sits in the window its event time names: nothing counted twice.
        const expected = new Map<number, number>();
        for (const reading of all) {
          if (lateIds.has(reading.id)) continue;
          const start = reading.eventTime - (reading.eventTime % 5000);
          expected.set(start, (expected.get(start) ?? 0) + 1);
        }
        const actual = new Map<number, number>();
        for (const row of rows.values()) if (row.device === 'set') actual.set(row.windowStart, row.count);
        assert.deepEqual([...actual].sort((x, y) => x[0] - y[0]), [...expected].sort((x, y) => x[0] - y[0]));
      }
    }
    if (latePolicy.kind === 'reemit' && latePolicy.allowedLatenessMs > SKEW) {
      // Within the allowed lateness the emitted windows take the readings as corrections.
      assert.equal(late, 0);
      assert.ok(stats.lateAbsorbed > 0);
    }
    if (latePolicy.kind === 'reemit' && latePolicy.allowedLatenessMs < SKEW) assert.ok((stats.lateDropped > 0) === someLate);
  });
}

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
  const records = generate(
    {
      a: normal,
      late: behind,
      fix: (t) => (t < T0 + 40_000 ? SKEW : 0),
      jump: (t) => (t < T0 + 30_000 ? 0 : SKEW),
      early: ahead,
      set: (t) => (t < T0 + 45_000 ? -SKEW : 0),
    },
    80_000,
    11,
  );
  for (const window of [{ kind: 'tumbling', sizeMs: 5000 }, { kind: 'session', gapMs: 3000 }] as WindowSpec[]) {
    const spec = specOf(window);
    // Also right after a device became shifted ahead: its learning windows are due but not yet emitted.
    const entries: number[] = [];
    let ahead = 0;
    const full = run(spec, records, (processor, offset) => {
      if (processor.deviceClockCounts().ahead > ahead) entries.push(offset + 1);
      ahead = processor.deviceClockCounts().ahead;
    });
    assert.equal(entries.length, 2, 'both devices ahead were shifted');
    const cuts = [...entries];
    for (let cut = 0; cut < records.length; cut += 97) cuts.push(cut);
    for (const cut of cuts) {
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

test('a negative device-clock ceiling is refused when the processor is built', () => {
  assert.throws(() => new PartitionProcessor(specOf(undefined, -1)), ConfigError);
});
