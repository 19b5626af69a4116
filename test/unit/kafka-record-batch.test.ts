import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EMPTY_BATCH,
  RECORD_FIELDS,
  recordBatch,
  recordOffset,
  recordPartition,
  recordText,
  recordTimestamp,
  recordValue,
  selectRecords,
  type RecordBatch,
} from '../../src/kafka/record-batch.ts';
import { mulberry32 } from '../../src/util/random.ts';

/** A consumed record as the library's own consume() would give it: the reference the batch form must match. */
interface PlainRecord {
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly value: Buffer | null;
}

/** The layout the patched binding's consumeRaw writes (deploy/native/kafka-javascript-consume-raw.patch). */
function asBatch(records: readonly PlainRecord[]): RecordBatch {
  const meta = new Float64Array(records.length * RECORD_FIELDS);
  let start = 0;
  records.forEach((record, index) => {
    meta.set([record.partition, record.offset, record.timestamp, start, record.value === null ? -1 : record.value.length], index * RECORD_FIELDS);
    start += record.value?.length ?? 0;
  });
  return recordBatch(Buffer.concat(records.flatMap((record) => (record.value === null ? [] : [record.value]))), meta);
}

function plain(batch: RecordBatch): PlainRecord[] {
  return Array.from({ length: batch.count }, (_, index) => ({
    partition: recordPartition(batch, index),
    offset: recordOffset(batch, index),
    timestamp: recordTimestamp(batch, index),
    value: recordValue(batch, index),
  }));
}

function randomRecords(random: () => number, count: number): PlainRecord[] {
  return Array.from({ length: count }, (_, index) => {
    const kind = random();
    // null values, empty values, JSON text with multi-byte characters, and bytes that are not UTF-8.
    const value =
      kind < 0.1 ? null
      : kind < 0.2 ? Buffer.alloc(0)
      : kind < 0.7 ? Buffer.from(JSON.stringify({ v: 1, device: `dév-${index}`, value: random() }))
      : Buffer.from(Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256)));
    return { partition: Math.floor(random() * 12), offset: Math.floor(random() * 2 ** 40), timestamp: random() < 0.1 ? -1 : 1_700_000_000_000 + index, value };
  });
}

test('each record of a batch reads back as the plain record it was: partition, offset, timestamp, value (null kept apart from empty)', () => {
  const random = mulberry32(7);
  for (let round = 0; round < 200; round++) {
    const records = randomRecords(random, Math.floor(random() * 50));
    const batch = asBatch(records);
    assert.equal(batch.count, records.length);
    assert.deepEqual(plain(batch), records);
    records.forEach((record, index) => assert.equal(recordText(batch, index), record.value === null ? null : record.value.toString('utf8')));
  }
});

test('selectRecords keeps exactly the records of the accepted partitions, in order, and returns the batch itself when it keeps them all', () => {
  const random = mulberry32(11);
  for (let round = 0; round < 200; round++) {
    const records = randomRecords(random, Math.floor(random() * 50));
    const batch = asBatch(records);
    const accepted = new Set(Array.from({ length: 12 }, (_, partition) => partition).filter(() => random() < 0.5));
    const selected = selectRecords(batch, (partition) => accepted.has(partition));
    assert.deepEqual(plain(selected), records.filter((record) => accepted.has(record.partition)));
    // Selecting again from a selection works on its own layout.
    assert.deepEqual(plain(selectRecords(selected, (partition) => partition % 2 === 0)), records.filter((record) => accepted.has(record.partition) && record.partition % 2 === 0));
  }
  const batch = asBatch(randomRecords(random, 20));
  assert.equal(selectRecords(batch, () => true), batch);
  assert.equal(selectRecords(batch, () => false).count, 0);
});

test('an empty batch has no records; a meta array that is not whole records is refused', () => {
  assert.equal(EMPTY_BATCH.count, 0);
  assert.equal(asBatch([]).count, 0);
  assert.throws(() => recordBatch(Buffer.alloc(0), new Float64Array(RECORD_FIELDS + 1)), RangeError);
});
