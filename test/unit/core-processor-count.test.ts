import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolvePartitions } from '../../src/advisor/trace.ts';
import { walkReplayLog } from '../../src/advisor/replay-log.ts';
import { generateTrace, type TraceKind } from '../../src/advisor/traces.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { PartitionProcessor, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';

/**
 * The replay's two levers on the shared processor: `aggregates: 'count'` and processNumbered.
 * Neither may change which rows come out, when, or what they count: both are checked against the
 * plain processor over traces that exercise late readings, re-emission, sessions and device clocks.
 */

type Spec = Omit<ProcessorSpec, 'pipeline' | 'partition'>;

const SPECS: Record<string, Spec> = {
  'tumbling, reemit': {
    window: { kind: 'tumbling', sizeMs: 5000 },
    watermark: { kind: 'fixed', delayMs: 500 },
    latePolicy: { kind: 'reemit', allowedLatenessMs: 3000 },
    idleTimeoutMs: 5000,
  },
  // Drop and late-topic: count-only aligned windows are counted in their series (no window read).
  'tumbling, drop': {
    window: { kind: 'tumbling', sizeMs: 5000 },
    watermark: { kind: 'fixed', delayMs: 500 },
    latePolicy: { kind: 'drop' },
    idleTimeoutMs: 5000,
  },
  'sliding, late topic': {
    window: { kind: 'sliding', sizeMs: 10_000, slideMs: 2000 },
    watermark: { kind: 'adaptive', quantile: 0.9, marginMs: 100, floorMs: 0, ceilingMs: 30_000, horizonMs: 60_000 },
    latePolicy: { kind: 'late-topic' },
    idleTimeoutMs: 5000,
  },
  'session, reemit': {
    window: { kind: 'session', gapMs: 3000 },
    watermark: { kind: 'fixed', delayMs: 500 },
    latePolicy: { kind: 'reemit', allowedLatenessMs: 3000 },
    idleTimeoutMs: 5000,
  },
};

interface Run {
  /** Every row in emission order, as (partition, key, count, lateReadings, version). */
  readonly rows: string[];
  readonly lates: string[];
  readonly full: AggregateRow[];
  readonly stats: string;
}

/**
 * Replays a generated trace (ids distinct; a second metric on every third reading) through fresh
 * processors. `numbered`: readings go through processNumbered with the trace's device index.
 */
function replay(kind: TraceKind, spec: Spec, mode: { aggregates?: 'all' | 'count'; numbered?: boolean }): Run {
  const { trace } = generateTrace({ kind, readings: kind === 'gateway-offline' ? 60_000 : 20_000, devices: 40, seed: 5 });
  const partitions = 2;
  const partitionOf = resolvePartitions(trace, partitions);
  const processors = Array.from(
    { length: partitions },
    (_, partition) => new PartitionProcessor({ pipeline: 'p', partition, ...spec, ...(mode.aggregates ? { aggregates: mode.aggregates } : {}) }),
  );
  const offsets = new Array<number>(partitions).fill(0);
  const rows: string[] = [];
  const lates: string[] = [];
  const full: AggregateRow[] = [];
  const out = {
    emitRow: (row: AggregateRow) => {
      rows.push(`${row.partition} ${row.tenant}/${row.device}/${row.metric} [${row.windowStart},${row.windowEnd}) ${row.count} ${row.lateReadings} v${row.version}`);
      full.push({ ...row });
    },
    emitLate: (reading: ReadingRecord, metric: string, offset: number) => void lates.push(`${reading.id} ${metric} ${offset}`),
  };
  const sequence = new Map<number, number>();
  walkReplayLog(trace, partitionOf, 1000, {
    reading: (index, partition) => {
      const device = trace.device[index]!;
      const seq = sequence.get(device) ?? 0;
      sequence.set(device, seq + 1);
      const record: ReadingRecord = {
        v: 1,
        tenant: device % 3 === 0 ? 'a' : 'b',
        device: trace.devices[device]!,
        id: `${device}:${seq}`,
        eventTime: trace.eventTime[index]!,
        ingestTime: trace.ingestTime[index]!,
        metrics: seq % 3 === 0 ? { value: seq % 7, temp: seq / 4 } : { value: seq % 7 },
      };
      const processor = processors[partition]!;
      if (mode.numbered) processor.processNumbered(record, device, offsets[partition]!++, out);
      else processor.process(record, offsets[partition]!++, out);
    },
    tick: (time) => processors.forEach((p, partition) => p.process({ v: 1, tick: true, ingestTime: time, source: 't' }, offsets[partition]!++, out)),
  });
  for (const processor of processors) processor.flushAll(out);
  return { rows, lates, full, stats: JSON.stringify(processors.map((p) => [p.stats, p.deviceClockCounts()])) };
}

for (const [name, spec] of Object.entries(SPECS)) {
  for (const kind of ['clock-ahead', 'gateway-offline', 'step'] as const) {
    test(`${name}, ${kind} trace: aggregates 'count' and processNumbered emit the plain processor's rows`, () => {
      const plain = replay(kind, spec, {});
      assert.ok(plain.rows.length > 100, 'the trace emits rows');
      const numbered = replay(kind, spec, { numbered: true });
      assert.deepEqual(numbered.full, plain.full, 'processNumbered: identical rows, all aggregates');
      assert.deepEqual(numbered.lates, plain.lates);
      assert.equal(numbered.stats, plain.stats);
      const counted = replay(kind, spec, { aggregates: 'count', numbered: true });
      assert.deepEqual(counted.rows, plain.rows, "aggregates 'count': same rows, counts and versions in the same order");
      assert.deepEqual(counted.lates, plain.lates);
      assert.equal(counted.stats, plain.stats);
      for (const row of counted.full.slice(0, 50)) {
        assert.ok(Number.isNaN(row.sum) && Number.isNaN(row.min) && Number.isNaN(row.p50) && Number.isNaN(row.maxIngestTime), 'uncomputed aggregates are NaN');
      }
    });
  }
}

test('a device number bound to another device later is rebound, not mixed up', () => {
  const spec: ProcessorSpec = { pipeline: 'p', partition: 0, ...SPECS['tumbling, reemit']! };
  const plain = new PartitionProcessor(spec);
  const numbered = new PartitionProcessor(spec);
  const rows = (into: string[]) => ({ emitRow: (row: AggregateRow) => void into.push(`${row.device} ${row.windowStart} ${row.count}`), emitLate: () => undefined });
  const a: string[] = [];
  const b: string[] = [];
  for (let i = 0; i < 40; i++) {
    const device = i % 2 === 0 ? 'dev-x' : 'dev-y';
    const record: ReadingRecord = { v: 1, tenant: 't', device, id: `${i}`, eventTime: i * 500, ingestTime: i * 500 + 100, metrics: { value: i } };
    plain.process(record, i, rows(a));
    numbered.processNumbered(record, 0, i, rows(b));
  }
  plain.flushAll(rows(a));
  numbered.flushAll(rows(b));
  assert.deepEqual(b, a);
});

test("aggregates other than 'all' and 'count' are refused", () => {
  assert.throws(
    () => new PartitionProcessor({ pipeline: 'p', partition: 0, ...SPECS['tumbling, reemit']!, aggregates: 'sum' as 'count' }),
    (error: unknown) => error instanceof ConfigError && /aggregates 'sum'/.test(error.message),
  );
});

/** Feeds the same records to a plain processor and to a numbered one (`byName`: records the numbered one also gets by name). */
function twin(spec: ProcessorSpec) {
  const plain = new PartitionProcessor(spec);
  const numbered = new PartitionProcessor(spec);
  const a: string[] = [];
  const b: string[] = [];
  const into = (rows: string[]) => ({
    emitRow: (row: AggregateRow) => void rows.push(`${row.device} ${row.windowStart} ${row.count} ${row.lateReadings}`),
    emitLate: () => undefined,
  });
  let offset = 0;
  return {
    reading(record: ReadingRecord, number: number, byName = false): void {
      plain.process(record, offset, into(a));
      if (byName) numbered.process(record, offset, into(b));
      else numbered.processNumbered(record, number, offset, into(b));
      offset++;
    },
    tick(ingestTime: number): void {
      plain.process({ v: 1, tick: true, ingestTime, source: 't' }, offset, into(a));
      numbered.process({ v: 1, tick: true, ingestTime, source: 't' }, offset, into(b));
      offset++;
    },
    finish(): { plain: string[]; numbered: string[]; plainState: string; numberedState: string } {
      const plainState = plain.snapshot().replace(/"next":\d+/, '');
      const numberedState = numbered.snapshot().replace(/"next":\d+/, '');
      plain.flushAll(into(a));
      numbered.flushAll(into(b));
      return { plain: a, numbered: b, plainState, numberedState };
    },
  };
}

test('a numbered device whose series were swept away gets new ones, found by the store like any other', () => {
  // No device clocks and no lateness: an empty series is not kept for its purgedThrough.
  const run = twin({ pipeline: 'p', partition: 0, ...SPECS['tumbling, reemit']!, latePolicy: { kind: 'drop' }, maxDeviceClockOffsetMs: 0 });
  const record = (device: number, t: number, id: string): ReadingRecord => ({
    v: 1, tenant: 't', device: `dev-${device}`, id, eventTime: t, ingestTime: t + 100, metrics: { value: 1 },
  });
  // Enough devices that their series, once empty, are swept (more than the store's slack of 4096).
  for (let d = 0; d < 6000; d++) run.reading(record(d, 1000, `a${d}`), d);
  run.tick(60_000);
  for (let d = 0; d < 20; d++) run.reading(record(d, 70_000, `b${d}`), d);
  const result = run.finish();
  assert.equal(result.numberedState, result.plainState, 'the same windows in the store');
  assert.deepEqual(result.numbered, result.plain);
  assert.equal(result.plain.filter((row) => row.includes(' 70000 ')).length, 20, 'the new windows are flushed');
});

test('readings of one device by number and by name mix: the device clock state is shared', () => {
  const run = twin({ pipeline: 'p', partition: 0, ...SPECS['tumbling, reemit']! });
  // The device's clock is 8 s behind: it becomes a candidate, then shifted; half its readings by name.
  // 'flaky' is on time twice by number, then 8 s late by name: by name it becomes a candidate, by number it is forgotten.
  for (let i = 0; i < 200; i++) {
    const t = 100_000 + i * 500;
    const late = i % 3 === 2;
    run.reading({ v: 1, tenant: 't', device: 'flaky', id: `${i}`, eventTime: t, ingestTime: t + (late ? 8000 : 100), metrics: { value: i } }, 9, late);
    run.reading({ v: 1, tenant: 't', device: 'behind', id: `${i}`, eventTime: t, ingestTime: t + 8000, metrics: { value: i } }, 7, i % 2 === 1);
    run.reading({ v: 1, tenant: 't', device: 'on-time', id: `${i}`, eventTime: t, ingestTime: t + 100, metrics: { value: i } }, 3, i % 3 === 0);
  }
  const result = run.finish();
  assert.equal(result.numberedState, result.plainState);
  assert.deepEqual(result.numbered, result.plain);
});

test('a number rebound while its cache is the former device\'s clock state: both devices keep their own state', () => {
  const run = twin({ pipeline: 'p', partition: 0, ...SPECS['tumbling, drop']!, aggregates: 'count' });
  const reading = (device: string, i: number, delayMs: number): ReadingRecord => {
    const t = 100_000 + i * 500;
    return { v: 1, tenant: 't', device, id: `${device}-${i}`, eventTime: t, ingestTime: t + delayMs, metrics: { value: 1 } };
  };
  // 'first' (8 s behind) gets a state through number 0; then number 0 stands for 'second' (12 s
  // behind), which needs a state of its own while 'first', now by name, keeps its own.
  let i = 0;
  for (; i < 60; i++) run.reading(reading('first', i, 8000), 0);
  for (; i < 200; i++) {
    run.reading(reading('second', i, 12_000), 0);
    run.reading(reading('first', i, i % 5 === 4 ? 100 : 8000), 0, true);
  }
  run.tick(400_000);
  const result = run.finish();
  assert.equal(result.numberedState, result.plainState);
  assert.deepEqual(result.numbered, result.plain);
  assert.ok(result.plainState.includes('"second"') && result.plainState.includes('"first"'), 'both devices have a clock state');
});
