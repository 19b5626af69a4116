import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartitionProcessor, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord, ReadingsTopicRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';

/**
 * The failure table's row "a device resends a reading (same id)" says, for a pipeline with a late
 * topic, that a late reading resent is written to the late topic once per copy: a window keeps the
 * ids it counted, but a closed window no longer takes readings, so nothing remembers a late id.
 */
const T = 1_700_000_000_000;
const at = (seconds: number): number => T + Math.round(seconds * 1000);

function reading(id: string, eventS: number, ingestS: number): ReadingRecord {
  return { v: 1, tenant: 't1', device: 'd1', id, eventTime: at(eventS), ingestTime: at(ingestS), metrics: { temp: 20, hum: 50 } };
}

const SPEC: ProcessorSpec = {
  pipeline: 'late-duplicates',
  partition: 0,
  window: { kind: 'tumbling', sizeMs: 10_000 },
  watermark: { kind: 'fixed', delayMs: 2000 },
  latePolicy: { kind: 'late-topic' },
  idleTimeoutMs: 5000,
};

function run(records: readonly ReadingsTopicRecord[]): { rows: AggregateRow[]; late: string[] } {
  const processor = new PartitionProcessor(SPEC);
  const rows: AggregateRow[] = [];
  const late: string[] = [];
  const out = {
    emitRow: (row: AggregateRow) => rows.push(row),
    emitLate: (record: ReadingRecord, metric: string, offset: number) => late.push(`${record.id}/${metric}@${offset}`),
  };
  records.forEach((record, offset) => processor.process(record, offset, out));
  return { rows, late };
}

test('a late reading delivered twice is handed to the late topic twice; an on-time duplicate is counted once', () => {
  const { rows, late } = run([
    reading('a1', 1, 1.5),
    reading('a1', 1, 2.0), // on time, a redelivery: counted once in [0, 10)
    reading('a2', 13, 13.1), // watermark 11 closes [0, 10)
    reading('late', 5, 13.2), // late for [0, 10)
    reading('late', 5, 13.4), // the same reading again
  ]);
  assert.deepEqual(late, ['late/temp@3', 'late/hum@3', 'late/temp@4', 'late/hum@4']);
  const first = rows.filter((row) => row.windowStart === at(0));
  assert.deepEqual(first.map((row) => [row.metric, row.count]).sort(), [['hum', 1], ['temp', 1]]);
});
