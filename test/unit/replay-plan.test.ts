import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartitionProcessor, type ProcessorSpec } from '../../src/core/processor.ts';
import { READING_SCHEMA_VERSION, type ReadingRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import { parsePosition, planPartition, recordsToRead, ReplayError, type PartitionFacts, type Position } from '../../src/replay/plan.ts';

const T = 1_700_000_000_000;

test('positions: an ISO time, one offset for every partition, or partition:offset pairs; anything else is refused with the forms', () => {
  assert.deepEqual(parsePosition('2025-03-01T10:00:00Z', '--from'), { kind: 'time', ms: Date.parse('2025-03-01T10:00:00Z') });
  assert.deepEqual(parsePosition('12345', '--from'), { kind: 'offset', offset: 12345 });
  assert.deepEqual(parsePosition('0:120, 3:98', '--to'), { kind: 'offsets', offsets: new Map([[0, 120], [3, 98]]) });
  for (const bad of ['yesterday', '2025-03-01T10:00:00', '0:1,0:2', '-5', '1:2:3']) {
    assert.throws(() => parsePosition(bad, '--from'), (error: unknown) => error instanceof ReplayError && error.code === 'REPLAY_BAD_POSITION', bad);
  }
});

const facts = (over: Partial<PartitionFacts> = {}): PartitionFacts => ({ partition: 2, low: 0, high: 1000, fromTimeOffset: 400, toTimeOffset: 700, ...over });
const at = (ms: number): Position => ({ kind: 'time', ms });

test('plan: starts at the checkpoint at or before --from, writes from --from, stops at --to', () => {
  const plan = planPartition('p', facts(), at(1), at(2), { offset: 350, state: '{}' });
  assert.deepEqual(plan, { partition: 2, startOffset: 350, state: '{}', writeFrom: 400, stopAt: 700 });
  assert.equal(recordsToRead([plan!]), 350);
});

test('plan: no checkpoint before --from starts empty at 0 only when the log still starts at 0', () => {
  assert.deepEqual(planPartition('p', facts(), at(1), null, null), { partition: 2, startOffset: 0, state: null, writeFrom: 400, stopAt: 1000 });
  assert.throws(() => planPartition('p', facts({ low: 10 }), at(1), null, null), (error: unknown) => error instanceof ReplayError && error.code === 'REPLAY_NO_CHECKPOINT');
  // A checkpoint whose records retention removed cannot be caught up from either.
  assert.throws(() => planPartition('p', facts({ low: 360 }), at(1), null, { offset: 350, state: '{}' }), (error: unknown) => error instanceof ReplayError && error.code === 'REPLAY_OFFSET_GONE');
  assert.throws(() => planPartition('p', facts({ low: 500 }), { kind: 'offset', offset: 450 }, null, null), (error: unknown) => error instanceof ReplayError && error.code === 'REPLAY_OFFSET_GONE');
});

test('plan: nothing to do when --from is at or past --to or the end; --to is capped at the end; unnamed partitions are left out', () => {
  assert.equal(planPartition('p', facts({ fromTimeOffset: null }), at(1), null, null), null);
  assert.equal(planPartition('p', facts({ fromTimeOffset: 700 }), at(1), at(2), null), null);
  assert.equal(planPartition('p', facts(), { kind: 'offset', offset: 400 }, { kind: 'offset', offset: 5000 }, null)?.stopAt, 1000);
  assert.equal(planPartition('p', facts(), { kind: 'offsets', offsets: new Map([[0, 10]]) }, null, null), null);
  assert.equal(planPartition('p', facts(), { kind: 'offsets', offsets: new Map([[2, 10]]) }, { kind: 'offsets', offsets: new Map([[0, 20]]) }, null)?.stopAt, 1000);
});

// ---------------------------------------------------------------------------------------------
// The reason for the plan: a replay from a checkpoint at or before --from writes exactly the live
// rows (same keys, same versions), for every --from/--to and checkpoint spacing; a cold start at
// --from does not.
// ---------------------------------------------------------------------------------------------

const spec: ProcessorSpec = {
  pipeline: 'replay',
  partition: 0,
  window: { kind: 'tumbling', sizeMs: 10_000 },
  watermark: { kind: 'fixed', delayMs: 3000 },
  latePolicy: { kind: 'reemit', allowedLatenessMs: 20_000 },
  idleTimeoutMs: 5000,
};

/** Readings of three devices, mostly in order, some a few seconds late and some past the allowed lateness. */
function records(count: number, seed: number): ReadingRecord[] {
  let state = seed;
  const random = (): number => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const out: ReadingRecord[] = [];
  for (let i = 0; i < count; i++) {
    const ingest = T + i * 700;
    const roll = random();
    const lag = roll < 0.8 ? random() * 1500 : roll < 0.95 ? 3000 + random() * 15_000 : 25_000 + random() * 10_000;
    const device = `d${Math.floor(random() * 3)}`;
    out.push({ v: READING_SCHEMA_VERSION, tenant: 't', device, id: `${device}-${i}`, eventTime: Math.floor(ingest - lag), ingestTime: ingest, metrics: { x: Math.floor(random() * 100) } });
  }
  return out;
}

type Row = Pick<AggregateRow, 'device' | 'metric' | 'windowStart' | 'windowEnd' | 'count' | 'sum' | 'version' | 'lateReadings'>;
const keep = (row: AggregateRow): Row => ({ device: row.device, metric: row.metric, windowStart: row.windowStart, windowEnd: row.windowEnd, count: row.count, sum: row.sum, version: row.version, lateReadings: row.lateReadings });

/** The live run: rows per offset of the record that emitted them, and a snapshot every `every` offsets. */
function live(input: readonly ReadingRecord[], every: number): { rowsAt: Row[][]; checkpoints: Map<number, string> } {
  const processor = new PartitionProcessor(spec);
  const rowsAt: Row[][] = [];
  const checkpoints = new Map<number, string>();
  input.forEach((record, offset) => {
    if (offset > 0 && offset % every === 0) checkpoints.set(offset, processor.snapshot());
    const rows: Row[] = [];
    processor.process(record, offset, { emitRow: (row) => rows.push(keep(row)), emitLate: () => undefined });
    rowsAt.push(rows);
  });
  return { rowsAt, checkpoints };
}

function replayed(input: readonly ReadingRecord[], startOffset: number, state: string | null, writeFrom: number, stopAt: number): Row[] {
  const processor = state === null ? new PartitionProcessor(spec) : PartitionProcessor.restore(spec, state);
  const rows: Row[] = [];
  for (let offset = startOffset; offset < stopAt; offset++) {
    const writing = offset >= writeFrom;
    processor.process(input[offset]!, offset, { emitRow: (row) => writing && rows.push(keep(row)), emitLate: () => undefined });
  }
  return rows;
}

/** ReplacingMergeTree FINAL: per key, the row of the highest version. */
function final(rows: readonly Row[]): Map<string, Row> {
  const table = new Map<string, Row>();
  for (const row of rows) {
    const key = `${row.device}|${row.metric}|${row.windowStart}`;
    const present = table.get(key);
    if (present === undefined || row.version >= present.version) table.set(key, row);
  }
  return table;
}

test('a replay planned from the checkpoint at or before --from writes only live rows, and leaves FINAL identical, for any range', () => {
  const input = records(600, 7);
  for (const every of [1, 37, 100]) {
    const { rowsAt, checkpoints } = live(input, every);
    const liveRows = rowsAt.flat();
    const liveFinal = final(liveRows);
    for (const [fromOffset, toOffset] of [[0, 600], [1, 2], [150, 151], [150, 420], [333, 600], [599, 600], [420, 333]]) {
      const facts: PartitionFacts = { partition: 0, low: 0, high: input.length, fromTimeOffset: fromOffset!, toTimeOffset: toOffset! };
      const probe = planPartition('replay', facts, at(1), at(2), null);
      if (probe === null) {
        assert.ok(toOffset! <= fromOffset!);
        continue;
      }
      const before = [...checkpoints.keys()].filter((offset) => offset <= probe.writeFrom).sort((a, b) => b - a)[0];
      const plan = planPartition('replay', facts, at(1), at(2), before === undefined ? null : { offset: before, state: checkpoints.get(before)! })!;
      const rows = replayed(input, plan.startOffset, plan.state, plan.writeFrom, plan.stopAt);
      assert.deepEqual(rows, rowsAt.slice(fromOffset, toOffset).flat(), `checkpoint every ${every}, range ${fromOffset}..${toOffset}`);
      assert.deepEqual(final([...liveRows, ...rows]), liveFinal);
    }
  }
});

test('the reason it starts from a checkpoint: a cold start at --from writes rows the live pipeline never wrote', () => {
  const input = records(600, 7);
  const { rowsAt } = live(input, 50);
  const liveRows = rowsAt.flat();
  const cold = replayed(input, 300, null, 300, 600);
  const liveKeys = new Set(liveRows.map((row) => JSON.stringify(row)));
  assert.ok(cold.some((row) => !liveKeys.has(JSON.stringify(row))), 'a cold start should write a partial window');
});
