import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartitionProcessor, type ProcessorSpec } from '../../src/core/processor.ts';
import type { Reading } from '../../src/core/readings.ts';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { encodeReading } from '../../src/core/wire/reading.ts';
import { encodeReadingBatch } from '../../src/core/wire/batch.ts';
import { encodeTick } from '../../src/core/wire/tick.ts';
import type { AggregateRow } from '../../src/core/rows.ts';

const T = 1_700_000_000_000;
const spec: ProcessorSpec = {
  pipeline: 'test',
  partition: 0,
  window: { kind: 'tumbling', sizeMs: 10_000 },
  watermark: { kind: 'fixed', delayMs: 2000 },
  latePolicy: { kind: 'drop' },
  idleTimeoutMs: 5000,
};
const reading = (device: string, id: string, eventS: number, ingestS: number, value: number): Reading => ({
  tenant: 't1',
  device,
  id,
  eventTime: T + eventS * 1000,
  ingestTime: T + ingestS * 1000,
  metrics: { temperature: value },
});

/** Feeds encoded records through decodeRecord the way the pipeline runner does. */
function run(values: readonly string[], processor = new PartitionProcessor(spec), from = 0): { rows: AggregateRow[]; processor: PartitionProcessor } {
  const rows: AggregateRow[] = [];
  const out = { emitRow: (row: AggregateRow) => rows.push(row), emitLate: () => undefined };
  values.forEach((value, index) => {
    const decoded = decodeRecord(value);
    assert.ok(decoded.ok);
    if (decoded.tick !== null) processor.process(decoded.tick, from + index, out);
    else processor.processReadings(decoded.readings, from + index, out);
  });
  return { rows, processor };
}

// A message's readings share its receipt (ingest) time.
const first = [reading('d1', '1', 1, 12, 10), reading('d1', '2', 3, 12, 20), reading('d1', '3', 12, 12, 5)];
const second = [reading('d1', '4', 14, 15, 7), reading('d1', '5', 15, 15, 1)];
const closing = encodeTick(T + 40_000, 'bridge');

test('a batch record gives the same rows as its readings one record each', () => {
  const batched = run([encodeReadingBatch(first), encodeReadingBatch(second), closing]);
  const single = run([...first, ...second].map(encodeReading).concat(closing));
  assert.equal(batched.rows.length, 2);
  assert.deepEqual(batched.rows, single.rows);
  assert.equal(batched.processor.stats.readings, 5);
  assert.equal(batched.processor.nextOffset(), 3, 'one offset per record, whatever it carries');
});

test('a replayed batch record (offset below the next one) is skipped whole', () => {
  const { processor } = run([encodeReadingBatch(first)]);
  run([encodeReadingBatch(first)], processor, 0);
  assert.equal(processor.stats.readings, 3);
  assert.equal(processor.stats.skippedRecords, 1);
  run([encodeReadingBatch(second)], processor, 1);
  assert.equal(processor.stats.readings, 5);
});

test('a restored snapshot resumes after the batch record it covers', () => {
  const { processor } = run([encodeReadingBatch(first)]);
  const restored = PartitionProcessor.restore(spec, processor.snapshot());
  run([encodeReadingBatch(first), encodeReadingBatch(second)], restored, 0);
  assert.equal(restored.stats.readings, 5, 'the covered record is not counted twice');
});
