import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import type { PipelineConfig } from '../../src/config/schema.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { PartitionProcessor, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord, ReadingsTopicRecord, TickRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';

const T = 1_700_000_000_000; // a multiple of 10 s
const s = (seconds: number): number => T + Math.round(seconds * 1000);

function reading(device: string, id: string, eventS: number, ingestS: number, metrics: Record<string, number>): ReadingRecord {
  return { v: 1, tenant: 't1', device, id, eventTime: s(eventS), ingestTime: s(ingestS), metrics };
}

function tick(ingestS: number): TickRecord {
  return { v: 1, tick: true, ingestTime: s(ingestS), source: 'bridge-a' };
}

function specOf(overrides: Partial<ProcessorSpec> = {}): ProcessorSpec {
  return {
    pipeline: 'test',
    partition: 3,
    window: { kind: 'tumbling', sizeMs: 10_000 },
    watermark: { kind: 'fixed', delayMs: 2000 },
    latePolicy: { kind: 'drop' },
    idleTimeoutMs: 5000,
    ...overrides,
  };
}

interface Late {
  id: string;
  metric: string;
  offset: number;
}

class Collector {
  readonly rows: AggregateRow[] = [];
  readonly late: Late[] = [];
  emitRow(row: AggregateRow): void {
    this.rows.push(row);
  }
  emitLate(reading: ReadingRecord, metric: string, offset: number): void {
    this.late.push({ id: reading.id, metric, offset });
  }
}

function run(spec: ProcessorSpec, records: readonly ReadingsTopicRecord[], flush = false): { processor: PartitionProcessor; out: Collector } {
  const processor = new PartitionProcessor(spec);
  const out = new Collector();
  records.forEach((record, offset) => processor.process(record, offset, out));
  if (flush) processor.flushAll(out);
  return { processor, out };
}

/** A row from its essentials; the rest follows from the spec used in these tests. */
function row(
  device: string,
  metric: string,
  startS: number,
  endS: number,
  values: Partial<AggregateRow> & Pick<AggregateRow, 'count' | 'sum' | 'min' | 'max' | 'first' | 'last' | 'firstTime' | 'lastTime' | 'p50' | 'maxIngestTime'>,
): AggregateRow {
  return {
    pipeline: 'test',
    tenant: 't1',
    device,
    metric,
    windowStart: s(startS),
    windowEnd: s(endS),
    lateReadings: 0,
    partition: 3,
    version: values.count,
    ...values,
  };
}

/** Out of order, with redeliveries, a late reading and an idle tick at the end. */
const tumblingRecords: ReadingsTopicRecord[] = [
  reading('d1', 'a1', 1.0, 1.5, { temp: 20, hum: 50 }), // 0
  reading('d2', 'b1', 2.0, 2.1, { temp: 10 }), // 1
  reading('d1', 'a2', 0.5, 3.0, { temp: 22, hum: 55 }), // 2: out of order
  reading('d1', 'a1', 1.0, 3.1, { temp: 20, hum: 50 }), // 3: redelivery of 0
  reading('d1', 'a3', 9.0, 9.5, { temp: 18, hum: 52 }), // 4
  reading('d2', 'b2', 9.0, 9.6, { temp: 12 }), // 5
  reading('d1', 'a4', 11.0, 11.2, { temp: 30, hum: 60 }), // 6: P = 11, WM = 9: [0, 10) still open
  reading('d2', 'b3', 8.0, 11.5, { temp: 11 }), // 7: on time
  reading('d1', 'a5', 12.5, 12.6, { temp: 31, hum: 61 }), // 8: WM = 10.5 closes [0, 10)
  reading('d2', 'b4', 9.5, 12.7, { temp: 13 }), // 9: late for [0, 10)
  reading('d1', 'a4', 11.0, 12.8, { temp: 30, hum: 60 }), // 10: redelivery of 6
  tick(30), // 11: 17.2 s without readings: idle, P = 30, WM = 28 closes [10, 20)
];

const firstWindowRows = [
  row('d1', 'temp', 0, 10, { count: 3, sum: 60, min: 18, max: 22, first: 22, firstTime: s(0.5), last: 18, lastTime: s(9), p50: 20, maxIngestTime: s(9.5) }),
  row('d1', 'hum', 0, 10, { count: 3, sum: 157, min: 50, max: 55, first: 55, firstTime: s(0.5), last: 52, lastTime: s(9), p50: 52, maxIngestTime: s(9.5) }),
  row('d2', 'temp', 0, 10, { count: 3, sum: 33, min: 10, max: 12, first: 10, firstTime: s(2), last: 12, lastTime: s(9), p50: 11, maxIngestTime: s(11.5) }),
];
const secondWindowRows = [
  row('d1', 'temp', 10, 20, { count: 2, sum: 61, min: 30, max: 31, first: 30, firstTime: s(11), last: 31, lastTime: s(12.5), p50: 30.5, maxIngestTime: s(12.6) }),
  row('d1', 'hum', 10, 20, { count: 2, sum: 121, min: 60, max: 61, first: 60, firstTime: s(11), last: 61, lastTime: s(12.5), p50: 60.5, maxIngestTime: s(12.6) }),
];

test('tumbling: out-of-order readings with redeliveries give exactly the expected rows', () => {
  const { processor, out } = run(specOf(), tumblingRecords);
  assert.deepEqual(out.rows, [...firstWindowRows, ...secondWindowRows]);
  assert.deepEqual(out.late, []);
  const stats = processor.stats;
  assert.equal(stats.readings, 11);
  assert.equal(stats.ticks, 1);
  assert.equal(stats.values, 18);
  assert.equal(stats.duplicates, 4); // two redelivered readings × two metrics
  assert.equal(stats.lateDropped, 1);
  assert.equal(stats.rowsEmitted, 5);
  assert.equal(processor.openWindows(), 0);
  assert.equal(processor.nextOffset(), 12);
  assert.equal(processor.isIdle(), true);
  assert.equal(processor.watermark(), s(28));
});

test('tumbling: rows are emitted when the watermark passes the window end, not before', () => {
  const processor = new PartitionProcessor(specOf());
  const out = new Collector();
  tumblingRecords.slice(0, 8).forEach((record, offset) => processor.process(record, offset, out));
  assert.equal(out.rows.length, 0);
  assert.equal(processor.watermark(), s(9));
  assert.equal(processor.openWindows(), 5);
  assert.equal(processor.earliestNeededOffset(), 0);
  processor.process(tumblingRecords[8]!, 8, out);
  assert.deepEqual(out.rows, firstWindowRows);
  // Only the [10, 20) windows of d1 remain; their first reading is at offset 6.
  assert.equal(processor.earliestNeededOffset(), 6);
  // A tick before the idle timeout does not move the clock.
  processor.process(tick(14), 9, out);
  assert.equal(processor.isIdle(), false);
  assert.equal(out.rows.length, 3);
  // Idle from 12.6 + 5 s on: P follows the ticks, WM = P − 2 s.
  processor.process(tick(17.6), 10, out);
  assert.equal(processor.isIdle(), true);
  assert.equal(processor.watermark(), s(15.6));
  assert.equal(out.rows.length, 3);
  processor.process(tick(22), 11, out);
  assert.deepEqual(out.rows.slice(3), secondWindowRows);
  assert.equal(processor.earliestNeededOffset(), null);
});

test('aggregates depend only on the set of readings, not on their arrival order', () => {
  const random = (() => {
    let state = 99;
    return () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
  })();
  const records: ReadingRecord[] = [];
  for (let i = 0; i < 400; i++) {
    records.push(reading(`d${i % 7}`, `r${i}`, random() * 60, 100, { temp: Math.round(random() * 1e4) / 100, rh: random() * 100 }));
  }
  const spec = specOf({ watermark: { kind: 'fixed', delayMs: 1e9 } });
  const byKey = (rows: AggregateRow[]): AggregateRow[] =>
    [...rows].sort((a, b) => (a.device + a.metric + a.windowStart).localeCompare(b.device + b.metric + b.windowStart));
  const reference = byKey(run(spec, records, true).out.rows);
  assert.equal(reference.reduce((total, r) => total + r.count, 0), 800);
  for (let round = 0; round < 5; round++) {
    const shuffled = [...records].sort(() => random() - 0.5);
    // Redeliver a few, too.
    shuffled.push(...shuffled.slice(0, 30));
    assert.deepEqual(byKey(run(spec, shuffled, true).out.rows), reference);
  }
});

test("late policy 'late-topic' hands the late reading out, once per metric", () => {
  const { processor, out } = run(specOf({ latePolicy: { kind: 'late-topic' } }), tumblingRecords);
  assert.deepEqual(out.late, [{ id: 'b4', metric: 'temp', offset: 9 }]);
  assert.equal(processor.stats.lateToTopic, 1);
  assert.equal(processor.stats.lateDropped, 0);
  assert.deepEqual(out.rows, [...firstWindowRows, ...secondWindowRows]);
});

test("late policy 'reemit' absorbs a late reading into the retained window, re-emits at once, and stops after the allowed lateness", () => {
  const records = [
    ...tumblingRecords.slice(0, 11),
    reading('d3', 'c1', 3.0, 12.9, { temp: 40 }), // late for a window that never had a reading: emitted on its own
    tick(30), // WM = 28 ≥ 10 + 5: the [0, 10) windows are no longer retained
    reading('d2', 'b5', 5.0, 31, { temp: 14 }), // too late: dropped
  ];
  const { processor, out } = run(specOf({ latePolicy: { kind: 'reemit', allowedLatenessMs: 5000 } }), records);
  const corrected = row('d2', 'temp', 0, 10, {
    count: 4,
    sum: 46,
    min: 10,
    max: 13,
    first: 10,
    firstTime: s(2),
    last: 13,
    lastTime: s(9.5),
    p50: 11.5,
    maxIngestTime: s(12.7),
    lateReadings: 1,
  });
  const alone = row('d3', 'temp', 0, 10, { count: 1, sum: 40, min: 40, max: 40, first: 40, firstTime: s(3), last: 40, lastTime: s(3), p50: 40, maxIngestTime: s(12.9), lateReadings: 1 });
  assert.deepEqual(out.rows, [...firstWindowRows, corrected, alone, ...secondWindowRows]);
  assert.equal(corrected.version, 4); // higher than the first emission's 3: the newer row wins
  const stats = processor.stats;
  assert.equal(stats.lateAbsorbed, 2);
  assert.equal(stats.lateDropped, 1);
  assert.equal(stats.rowsUpdated, 2);
  assert.equal(processor.retainedWindows(), 0);
});

test("late policy 'reemit': windows stay retained until WM ≥ end + allowed lateness, and keep their offsets needed", () => {
  const processor = new PartitionProcessor(specOf({ latePolicy: { kind: 'reemit', allowedLatenessMs: 5000 } }));
  const out = new Collector();
  tumblingRecords.slice(0, 9).forEach((record, offset) => processor.process(record, offset, out));
  assert.equal(processor.retainedWindows(), 3);
  assert.equal(processor.openWindows(), 2);
  assert.equal(processor.earliestNeededOffset(), 0);
  // A redelivery into a retained window is a duplicate: no new row.
  processor.process(reading('d1', 'a1', 1.0, 13, { temp: 20, hum: 50 }), 9, out);
  assert.equal(out.rows.length, 3);
  assert.equal(processor.stats.duplicates, 4); // record 3 redelivered a1 already
  // WM = 15 − 2 = 13 < 15: still retained. WM = 17 − 2 = 15: gone.
  processor.process(reading('d9', 'z1', 15, 15.1, { temp: 1 }), 10, out);
  assert.equal(processor.retainedWindows(), 3);
  processor.process(reading('d9', 'z2', 17, 17.1, { temp: 1 }), 11, out);
  assert.equal(processor.retainedWindows(), 0);
  assert.equal(processor.earliestNeededOffset(), 6);
});

test('sliding: a reading lands in size/slide windows and is late for some, on time for others', () => {
  const spec = specOf({ window: { kind: 'sliding', sizeMs: 10_000, slideMs: 5000 }, watermark: { kind: 'fixed', delayMs: 0 } });
  const records = [
    reading('d1', 'x1', 1, 1.1, { v: 1 }), // WM 1
    reading('d1', 'x2', 6, 6.1, { v: 2 }), // WM 6: closes [-5, 5)
    reading('d1', 'x3', 12, 12.1, { v: 3 }), // WM 12: closes [0, 10)
    reading('d1', 'x4', 7, 12.2, { v: 4 }), // late for [0, 10), on time for [5, 15)
    tick(40),
  ];
  const { processor, out } = run(spec, records);
  assert.deepEqual(out.rows, [
    row('d1', 'v', -5, 5, { count: 1, sum: 1, min: 1, max: 1, first: 1, firstTime: s(1), last: 1, lastTime: s(1), p50: 1, maxIngestTime: s(1.1) }),
    row('d1', 'v', 0, 10, { count: 2, sum: 3, min: 1, max: 2, first: 1, firstTime: s(1), last: 2, lastTime: s(6), p50: 1.5, maxIngestTime: s(6.1) }),
    row('d1', 'v', 5, 15, { count: 3, sum: 9, min: 2, max: 4, first: 2, firstTime: s(6), last: 3, lastTime: s(12), p50: 3, maxIngestTime: s(12.2) }),
    row('d1', 'v', 10, 20, { count: 1, sum: 3, min: 3, max: 3, first: 3, firstTime: s(12), last: 3, lastTime: s(12), p50: 3, maxIngestTime: s(12.1) }),
  ]);
  assert.equal(processor.stats.lateDropped, 1);
  assert.equal(processor.stats.windowsOpened, 4);

  const topic = run({ ...spec, latePolicy: { kind: 'late-topic' } }, records);
  assert.deepEqual(topic.out.late, [{ id: 'x4', metric: 'v', offset: 3 }]);
});

test('session: sessions per series, merged when a reading bridges two; end = last event + gap', () => {
  const spec = specOf({ window: { kind: 'session', gapMs: 3000 }, watermark: { kind: 'fixed', delayMs: 10_000 } });
  const records = [
    reading('d1', 's1', 1, 1.1, { v: 1 }), // [1, 4)
    reading('d1', 's2', 6, 6.1, { v: 2 }), // [6, 9)
    reading('d2', 'u1', 2, 6.2, { v: 7 }), // another series: [2, 5)
    reading('d1', 's3', 3.5, 6.3, { v: 3 }), // [3.5, 6.5) bridges both: [1, 9)
    reading('d1', 's3', 3.5, 6.4, { v: 3 }), // redelivery
    reading('d1', 's4', 20, 20.1, { v: 4 }), // [20, 23); WM = 10 closes d2's [2, 5) and d1's [1, 9)
    tick(60),
  ];
  const { processor, out } = run(spec, records);
  assert.deepEqual(out.rows, [
    row('d2', 'v', 2, 5, { count: 1, sum: 7, min: 7, max: 7, first: 7, firstTime: s(2), last: 7, lastTime: s(2), p50: 7, maxIngestTime: s(6.2) }),
    row('d1', 'v', 1, 9, { count: 3, sum: 6, min: 1, max: 3, first: 1, firstTime: s(1), last: 2, lastTime: s(6), p50: 2, maxIngestTime: s(6.3) }),
    row('d1', 'v', 20, 23, { count: 1, sum: 4, min: 4, max: 4, first: 4, firstTime: s(20), last: 4, lastTime: s(20), p50: 4, maxIngestTime: s(20.1) }),
  ]);
  assert.equal(processor.stats.duplicates, 1);
});

test("session + 'reemit': a late reading inside a retained session is absorbed without moving its start; outside it is dropped", () => {
  const spec = specOf({
    window: { kind: 'session', gapMs: 3000 },
    watermark: { kind: 'fixed', delayMs: 0 },
    latePolicy: { kind: 'reemit', allowedLatenessMs: 60_000 },
  });
  const records = [
    reading('d1', 's1', 1, 1.1, { v: 1 }),
    reading('d1', 's2', 2, 2.1, { v: 2 }), // session [1, 5)
    reading('d1', 's3', 30, 30.1, { v: 3 }), // WM 30: [1, 5) emitted and retained
    reading('d1', 's4', 4, 30.2, { v: 4 }), // inside [1, 5): absorbed, re-emitted
    reading('d1', 's5', 0.5, 30.3, { v: 5 }), // [0.5, 3.5) overlaps but 0.5 is outside [1, 5): dropped
  ];
  const { processor, out } = run(spec, records);
  assert.equal(out.rows.length, 2);
  assert.deepEqual(out.rows[1], row('d1', 'v', 1, 5, {
    count: 3,
    sum: 7,
    min: 1,
    max: 4,
    first: 1,
    firstTime: s(1),
    last: 4,
    lastTime: s(4),
    p50: 2,
    maxIngestTime: s(30.2),
    lateReadings: 1,
  }));
  assert.equal(processor.stats.lateAbsorbed, 1);
  assert.equal(processor.stats.lateDropped, 1);
  assert.equal(processor.openWindows(), 1);
  assert.equal(processor.retainedWindows(), 1);
});

test('idle tick closes the windows of a partition that stopped receiving readings', () => {
  const spec = specOf({ watermark: { kind: 'adaptive', quantile: 0.99, marginMs: 500, floorMs: 200, ceilingMs: 30_000, horizonMs: 60_000 } });
  const processor = new PartitionProcessor(spec);
  const out = new Collector();
  processor.process(reading('d1', 'a', 1, 1.2, { v: 1 }), 0, out);
  // Before any estimate, D = the 30 s ceiling: ticks must carry ingest time past end + ceiling.
  processor.process(tick(20), 1, out);
  assert.equal(processor.isIdle(), true);
  assert.equal(out.rows.length, 0);
  processor.process(tick(40), 2, out);
  assert.equal(out.rows.length, 1);
  assert.equal(out.rows[0]!.windowEnd, s(10));
});

test('records at an offset already processed are skipped; invalid values are counted, not absorbed', () => {
  const processor = new PartitionProcessor(specOf());
  const out = new Collector();
  processor.process(reading('d1', 'a', 1, 1.2, { v: 1, bad: Number.NaN }), 10, out);
  processor.process(reading('d1', 'b', 2, 2.2, { v: 2 }), 10, out);
  processor.process(reading('d1', 'c', 2, 2.2, { v: 3 }), 7, out);
  assert.equal(processor.stats.skippedRecords, 2);
  assert.equal(processor.stats.invalidValues, 1);
  assert.equal(processor.nextOffset(), 11);
  processor.flushAll(out);
  assert.equal(out.rows.length, 1);
  assert.equal(out.rows[0]!.count, 1);
});

test('a pipeline from the configuration is a valid processor spec; bad specs fail at construction', () => {
  const config = parseConfig({});
  const pipeline: PipelineConfig = config.aggregator.pipelines[0]!;
  const spec: ProcessorSpec = {
    pipeline: pipeline.name,
    partition: 0,
    window: pipeline.window,
    watermark: pipeline.watermark,
    latePolicy: pipeline.latePolicy,
    idleTimeoutMs: pipeline.idleTimeoutMs,
  };
  assert.doesNotThrow(() => new PartitionProcessor(spec));
  assert.throws(() => new PartitionProcessor(specOf({ latePolicy: { kind: 'reemit', allowedLatenessMs: -1 } })), ConfigError);
  assert.throws(() => new PartitionProcessor(specOf({ partition: -1 })), /partition/);
  assert.throws(() => new PartitionProcessor(specOf({ window: { kind: 'sliding', sizeMs: 10, slideMs: 3 } })), /slideMs/);
});
