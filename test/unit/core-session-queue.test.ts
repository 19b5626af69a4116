import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartitionProcessor, type ProcessorOutput, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';

/**
 * A growing session stays queued at its earlier deadline and is queued again at its end only when
 * that deadline comes (window-store.ts extendSession). Rows must still come out exactly as if it
 * had been queued anew at every reading: sessions due together in the order they last grew.
 */
const T = 1_700_000_000_000;

const spec: ProcessorSpec = {
  pipeline: 'sessions',
  partition: 0,
  window: { kind: 'session', gapMs: 1000 },
  watermark: { kind: 'fixed', delayMs: 0 },
  latePolicy: { kind: 'drop' },
  idleTimeoutMs: 60_000,
};

function reading(device: string, id: string, atMs: number): ReadingRecord {
  return { v: 1, tenant: 't', device, id, eventTime: T + atMs, ingestTime: T + atMs, metrics: { v: atMs } };
}

function collector(): { rows: AggregateRow[]; out: ProcessorOutput } {
  const rows: AggregateRow[] = [];
  return { rows, out: { emitRow: (row) => void rows.push(row), emitLate: () => undefined } };
}

const keys = (rows: readonly AggregateRow[]): string[] => rows.map((row) => `${row.device} [${row.windowStart - T}, ${row.windowEnd - T}) ×${row.count}`);

// Session a opens at 0 (due 1000) and grows to [0, 1500) at 500; session b opens at 500 (due 1500)
// after a grew: both are due at 1500, and a grew before b was queued, so a comes first.
const before = [reading('a', 'a1', 0), reading('a', 'a2', 500), reading('b', 'b1', 500)];
const expected = ['a [0, 1500) ×2', 'b [500, 1500) ×1'];

test('sessions due together come out in the order they last grew, when the watermark passes their old deadline first', () => {
  const processor = new PartitionProcessor(spec);
  const { rows, out } = collector();
  let offset = 0;
  for (const record of before) processor.process(record, offset++, out);
  // The watermark passes a's old deadline (1000) but not 1500: a is queued again, behind b.
  processor.process(reading('c', 'c1', 1200), offset++, out);
  assert.deepEqual(rows, []);
  processor.process(reading('d', 'd1', 1600), offset++, out);
  assert.deepEqual(keys(rows), expected);
});

test('sessions due together come out in the order they last grew, when one record passes both deadlines', () => {
  const processor = new PartitionProcessor(spec);
  const { rows, out } = collector();
  let offset = 0;
  for (const record of before) processor.process(record, offset++, out);
  processor.process(reading('d', 'd1', 1600), offset++, out);
  assert.deepEqual(keys(rows), expected);
});

test('a restored processor emits the same sessions in the same order', () => {
  const processor = new PartitionProcessor(spec);
  const { rows, out } = collector();
  let offset = 0;
  for (const record of before) processor.process(record, offset++, out);
  processor.process(reading('c', 'c1', 1200), offset++, out);
  const restored = PartitionProcessor.restore(spec, processor.snapshot());
  const again = collector();
  const last = reading('d', 'd1', 1600);
  processor.process(last, offset, out);
  restored.process(last, offset, again.out);
  assert.deepEqual(keys(rows), expected);
  assert.deepEqual(again.rows, rows);
});
