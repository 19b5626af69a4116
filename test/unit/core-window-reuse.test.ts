import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../../src/util/random.ts';
import { PipelineError } from '../../src/core/errors.ts';
import { PartitionProcessor, type LatePolicySpec, type ProcessorOutput, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord, ReadingsTopicRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import type { WindowSpec } from '../../src/core/windows.ts';
import type { WindowPool } from '../../src/core/window-pool.ts';
import { WindowStore, type WindowState } from '../../src/core/window-store.ts';

/**
 * A window's deadline-queue entries belong to one incarnation of the window (issue 16, defect 2).
 * Moving a window to an earlier deadline (a device found to run ahead) left its old entry queued;
 * once the window was purged, pooled and reused at that same deadline, the stale entry passed for
 * live: the window was emitted and closed twice and pooled twice, and two series then shared one
 * object. Every path that queues a window again or purges it is driven here by devices whose
 * clocks jump ahead and back, for every kind of window and late policy, and every row is checked
 * against the readings it may hold.
 */
const T0 = 1_700_000_000_000;

/** How far a device's clock runs ahead (positive) at an ingest instant, relative to the log's start. */
type AheadBy = (sinceStartMs: number) => number;

interface Fleet {
  readonly ordinary: number;
  /** Devices with an irregular clock, by name. */
  readonly irregular: Readonly<Record<string, AheadBy>>;
  readonly seconds: number;
  readonly seed: number;
  /** Redeliver about one reading in 25 (not under aggregates 'count', which takes ids to be distinct). */
  readonly redeliver: boolean;
}

/**
 * Every device reads once a second, spread over the second, with a network delay of 20–700 ms
 * (below the watermark's 1 s, so an ordinary reading is never late) and two metrics; optionally
 * about one reading in 25 is redelivered a moment later. Then ticks for two minutes close every window.
 */
function generate(fleet: Fleet): ReadingsTopicRecord[] {
  const random = mulberry32(fleet.seed);
  const names = [...Array.from({ length: fleet.ordinary }, (_, i) => `d${String(i).padStart(2, '0')}`), ...Object.keys(fleet.irregular)];
  const records: ReadingsTopicRecord[] = [];
  let redelivery: ReadingRecord | undefined;
  let n = 0;
  for (let second = 0; second < fleet.seconds; second++) {
    for (let i = 0; i < names.length; i++) {
      const device = names[i]!;
      const sinceStart = second * 1000 + Math.floor((i * 1000) / names.length);
      const ingestTime = T0 + sinceStart;
      const ahead = fleet.irregular[device]?.(sinceStart) ?? 0;
      const reading: ReadingRecord = {
        v: 1,
        tenant: 'acme',
        device,
        id: `${device}-${n++}`,
        eventTime: ingestTime - 20 - Math.floor(random() * 680) + ahead,
        ingestTime,
        metrics: { t: Math.round(random() * 1000) / 10, h: Math.round(random() * 100) },
      };
      if (redelivery !== undefined) {
        records.push({ ...redelivery, ingestTime });
        redelivery = undefined;
      }
      records.push(reading);
      if (fleet.redeliver && random() < 0.04) redelivery = reading;
    }
  }
  for (let tick = 0; tick <= 120; tick++) records.push({ v: 1, tick: true, ingestTime: T0 + (fleet.seconds + tick) * 1000, source: 'bridge' });
  return records;
}

class Recorder implements ProcessorOutput {
  readonly rows: AggregateRow[] = [];
  /** Reading ids handed out late, by metric. */
  readonly late = new Set<string>();
  emitRow(row: AggregateRow): void {
    // Count-only rows are one reused object: keep a copy.
    this.rows.push({ ...row });
  }
  emitLate(reading: ReadingRecord, metric: string): void {
    this.late.add(`${reading.id}/${metric}`);
  }
}

/** The store's own books against what it holds: open/retained counters, one series per window, a pool without live or repeated windows. */
function assertStoreConsistent(processor: PartitionProcessor, where: string): void {
  const store = processor['store'] as WindowStore;
  let open = 0;
  let retained = 0;
  const owner = new Map<WindowState, string>();
  for (const series of store.allSeries()) {
    const name = `${series.device}/${series.metric}`;
    for (const window of series.windows) {
      assert.equal(owner.get(window), undefined, `${where}: one window object held by ${owner.get(window)} and ${name}`);
      owner.set(window, name);
      assert.ok(window.series === series, `${where}: a window of ${name} names ${window.series.device}/${window.series.metric}`);
      assert.equal(window.dead, false, `${where}: a purged window is still held by ${name}`);
      if (window.emitted) retained++;
      else open++;
    }
  }
  assert.equal(store.openCount(), open, `${where}: open-window counter`);
  assert.equal(store.retainedCount(), retained, `${where}: retained-window counter`);
  const pool = (store['pool'] as WindowPool).pooled();
  assert.equal(new Set(pool).size, pool.length, `${where}: a window pooled twice`);
  for (const window of pool) assert.equal(owner.get(window), undefined, `${where}: a pooled window is live in ${owner.get(window)}`);
}

interface Run {
  readonly processor: PartitionProcessor;
  readonly out: Recorder;
}

/** Runs the log, checking the store's books every `checkEvery` records and at the end; `during` sees the processor after each record. */
function run(spec: ProcessorSpec, records: readonly ReadingsTopicRecord[], checkEvery = 500, during?: (processor: PartitionProcessor) => void): Run {
  const processor = new PartitionProcessor(spec);
  const out = new Recorder();
  records.forEach((record, offset) => {
    processor.process(record, offset, out);
    if (offset % checkEvery === 0) assertStoreConsistent(processor, `after offset ${offset}`);
    during?.(processor);
  });
  assertStoreConsistent(processor, 'at the end');
  return { processor, out };
}

/**
 * Every row against the log: no (series, window, version) twice (no window at all twice without
 * 'reemit'); a row counts no more than the distinct readings of its series in its interval, and an
 * aligned window's last row no fewer than those of them not late (known by id under 'late-topic',
 * or when none was dropped); versions grow.
 * Tumbling and session windows: every distinct value is in exactly one final row, or late.
 */
function assertRowsMatchReadings(spec: ProcessorSpec, records: readonly ReadingsTopicRecord[], result: Run): void {
  const { processor, out } = result;
  const readings = new Map<string, Map<string, number>>();
  for (const record of records) {
    if ('tick' in record) continue;
    for (const metric of Object.keys(record.metrics)) {
      const key = `${record.device}/${metric}`;
      let ids = readings.get(key);
      if (ids === undefined) readings.set(key, (ids = new Map()));
      ids.set(record.id, record.eventTime);
    }
  }
  const inWindow = (row: AggregateRow, notLate: boolean): number => {
    let count = 0;
    for (const [id, eventTime] of readings.get(`${row.device}/${row.metric}`) ?? []) {
      if (eventTime >= row.windowStart && eventTime < row.windowEnd && !(notLate && out.late.has(`${id}/${row.metric}`))) count++;
    }
    return count;
  };
  const reemit = spec.latePolicy.kind === 'reemit';
  const versions = new Set<string>();
  const final = new Map<string, AggregateRow>();
  for (const row of out.rows) {
    const key = `${row.device}/${row.metric}/${row.windowStart}`;
    assert.ok(!versions.has(`${key}/${row.version}`), `row ${key} version ${row.version} emitted twice`);
    versions.add(`${key}/${row.version}`);
    const previous = final.get(key);
    assert.ok(reemit || previous === undefined, `window ${key} emitted twice without 'reemit'`);
    if (previous !== undefined) assert.ok(row.version > previous.version, `window ${key}: version ${row.version} after ${previous.version}`);
    assert.equal(row.version, row.count);
    const most = inWindow(row, false);
    assert.ok(row.count <= most, `window ${key} counts ${row.count} readings but its series has ${most} there`);
    final.set(key, row);
  }
  // Only 'late-topic' names the readings it did not count; elsewhere a bound needs no late reading.
  if (spec.window.kind !== 'session' && (spec.latePolicy.kind === 'late-topic' || processor.stats.lateDropped === 0)) {
    for (const [key, row] of final) {
      const least = inWindow(row, true);
      assert.ok(row.count >= least, `window ${key} counts ${row.count} readings but ${least} of its series there were never late`);
    }
  }
  if (spec.window.kind !== 'sliding') {
    const stats = processor.stats;
    let counted = 0;
    for (const row of final.values()) counted += row.count;
    assert.equal(counted, stats.values - stats.duplicates - stats.lateDropped - stats.lateToTopic, 'every accepted value in exactly one final row');
  }
  assert.ok(out.rows.length > 0);
}

function specOf(window: WindowSpec, latePolicy: LatePolicySpec, aggregates: 'all' | 'count' = 'all'): ProcessorSpec {
  return {
    pipeline: 'reuse',
    partition: 0,
    window,
    watermark: { kind: 'fixed', delayMs: 1000 },
    latePolicy,
    idleTimeoutMs: 3000,
    aggregates,
  };
}

const tumbling: WindowSpec = { kind: 'tumbling', sizeMs: 5000 };
const sliding: WindowSpec = { kind: 'sliding', sizeMs: 10_000, slideMs: 5000 };
const session: WindowSpec = { kind: 'session', gapMs: 3000 };
const policies: LatePolicySpec[] = [{ kind: 'drop' }, { kind: 'late-topic' }, { kind: 'reemit', allowedLatenessMs: 10_000 }];

// The issue's case: one partition, tumbling 5 s windows, fixed 1 s delay, one device 30 s ahead
// among 20 ordinary ones, 300 s of readings.
const issueFleet: Fleet = { ordinary: 20, irregular: { ahead: () => 30_000 }, seconds: 300, seed: 16, redeliver: true };

for (const latePolicy of policies) {
  for (const aggregates of ['all', 'count'] as const) {
    test(`a device 30 s ahead among 20: every window is emitted once and counts only its own readings (tumbling, ${latePolicy.kind}, ${aggregates})`, () => {
      const spec = specOf(tumbling, latePolicy, aggregates);
      const records = generate({ ...issueFleet, redeliver: aggregates === 'all' });
      const result = run(spec, records);
      assert.equal(result.processor.deviceClockCounts().ahead, 1, 'the device ahead was learned');
      assert.equal(result.processor.openWindows(), 0, 'every window closed');
      assertRowsMatchReadings(spec, records, result);
      if (aggregates === 'count') return;
      // No late reading in this log: every row is a window's only row, with every reading of it.
      assert.equal(result.processor.stats.lateDropped + result.processor.stats.lateToTopic + result.processor.stats.lateAbsorbed, 0);
      for (const row of result.out.rows) assert.equal(row.lateReadings, 0);
    });
  }
}

// Under 'reemit' a window moved earlier is retained until end + shift + allowed lateness; when that
// is the old deadline (end: lateness = −shift, the shift being −29 s here) the retained window met
// its own stale entry there and was dropped twice, even with no window reused.
test('a device 30 s ahead whose retained windows expire at their old deadline: each is dropped once (tumbling, reemit 29 s)', () => {
  for (const aggregates of ['all', 'count'] as const) {
    const spec = specOf(tumbling, { kind: 'reemit', allowedLatenessMs: 29_000 }, aggregates);
    const records = generate({ ...issueFleet, redeliver: aggregates === 'all' });
    const result = run(spec, records, 200);
    assertRowsMatchReadings(spec, records, result);
    assert.equal(result.processor.retainedWindows(), 0);
  }
});

/**
 * Clocks that move: `hopper` runs right, then 30 s ahead, is set right (its windows ahead were
 * emitted and purged: readings into them are late), then 45 s ahead; `drifter` runs ahead by a
 * growing amount, so its shift is followed in steps; `laggard` runs 20 s behind (later deadlines).
 */
const movingFleet: Fleet = {
  ordinary: 12,
  irregular: {
    hopper: (t) => (t < 60_000 ? 0 : t < 150_000 ? 30_000 : t < 200_000 ? 0 : 45_000),
    drifter: (t) => 5000 + Math.floor(t / 20_000) * 4000,
    laggard: () => -20_000,
  },
  seconds: 300,
  seed: 21,
  redeliver: true,
};

for (const window of [tumbling, sliding, session]) {
  for (const latePolicy of [...policies, { kind: 'reemit', allowedLatenessMs: 29_000 } as const]) {
    const kinds = window.kind === 'session' ? (['all'] as const) : (['all', 'count'] as const);
    for (const aggregates of kinds) {
      const name = `${window.kind}, ${latePolicy.kind}${latePolicy.kind === 'reemit' ? ` ${latePolicy.allowedLatenessMs / 1000} s` : ''}, ${aggregates}`;
      test(`devices jumping ahead and back: windows emitted once, with their own readings, books balanced (${name})`, () => {
        const spec = specOf(window, latePolicy, aggregates);
        const records = generate({ ...movingFleet, redeliver: aggregates === 'all' });
        let ahead = 0;
        let behind = 0;
        const result = run(spec, records, 250, (processor) => {
          ahead = Math.max(ahead, processor.deviceClockCounts().ahead);
          behind = Math.max(behind, processor.deviceClockCounts().behind);
        });
        // The log does what it is meant to: two devices followed ahead at once, one behind, and
        // readings late once hopper's clock was set right.
        assert.deepEqual({ ahead, behind }, { ahead: 2, behind: 1 });
        const { lateDropped, lateToTopic, lateAbsorbed } = result.processor.stats;
        assert.ok(lateDropped + lateToTopic + lateAbsorbed > 0, 'some readings were late');
        assert.equal(result.processor.openWindows(), 0, 'every window closed');
        assertRowsMatchReadings(spec, records, result);
      });

      test(`devices jumping ahead and back: restored from snapshots along the way, the same rows (${name})`, () => {
        const spec = specOf(window, latePolicy, aggregates);
        const records = generate({ ...movingFleet, redeliver: aggregates === 'all' });
        const whole = run(spec, records, 1e9);
        let processor = new PartitionProcessor(spec);
        const out = new Recorder();
        records.forEach((record, offset) => {
          if (offset % 1500 === 1499) {
            processor = PartitionProcessor.restore(spec, processor.snapshot());
            assertStoreConsistent(processor, `restored at offset ${offset}`);
          }
          processor.process(record, offset, out);
        });
        assertStoreConsistent(processor, 'at the end');
        assert.deepEqual(out.rows, whole.out.rows);
        assert.deepEqual(processor.stats, whole.processor.stats);
      });
    }
  }
}

for (const retainUntil of [undefined, 4000]) {
  test(`the store: a window moved earlier, purged${retainUntil === undefined ? '' : ' after being retained'} and reused at its old deadline is due once`, () => {
    const store = new WindowStore({ pooling: true });
    const ahead = store.getOrCreateSeries('t', 'ahead', 'm');
    const moved = store.addAligned(ahead, 0, 5000);
    store.closeEarlier(ahead, -3000);
    const due: WindowState[] = [];
    store.takeDue(2000, due);
    assert.deepEqual(due, [moved]);
    store.closed(moved, retainUntil);
    due.length = 0;
    if (retainUntil !== undefined) {
      store.takeDue(retainUntil, due);
      assert.deepEqual(due, [], 'a retained window is dropped, not due');
      assert.equal(store.retainedCount(), 0);
    }

    const other = store.getOrCreateSeries('t', 'other', 'm');
    const reused = store.addAligned(other, 0, 5000);
    assert.equal(reused, moved, 'the pool hands the purged window out again');
    store.takeDue(5000, due);
    assert.equal(due.length, 1, 'due once at its deadline');
    assert.equal(due[0], reused);
    store.closed(reused, undefined);
    assert.equal(store.openCount(), 0);
  });
}

test('the store: closing or purging a window twice is a typed error, not a counter drift or a window pooled twice', () => {
  const isTwice = (code: string) => (error: unknown) => error instanceof PipelineError && error.code === code && error.context['device'] === 'd';
  for (const retainUntil of [undefined, 9000]) {
    const store = new WindowStore({ pooling: true });
    const series = store.getOrCreateSeries('t', 'd', 'm');
    const window = store.addAligned(series, 0, 5000);
    store.closed(window, retainUntil);
    assert.throws(() => store.closed(window, retainUntil), isTwice('CORE_WINDOW_CLOSED_TWICE'));
    assert.equal(store.openCount(), 0);
    assert.equal(store.retainedCount(), retainUntil === undefined ? 0 : 1);
  }
  // A session merged away is purged; merging it again must not release it a second time.
  const store = new WindowStore({ pooling: false });
  const series = store.getOrCreateSeries('t', 'd', 'm');
  const target = store.addSession(series, 0, 3000);
  const other = store.addSession(series, 2000, 5000);
  store.mergeSessions(target, other);
  assert.throws(() => store.mergeSessions(target, other), isTwice('CORE_WINDOW_RELEASED_TWICE'));
  assert.equal(store.openCount(), 1);
});
