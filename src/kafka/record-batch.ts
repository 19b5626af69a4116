/**
 * A batch of consumed records as the Kafka binding's batch consume hands it over (`consumeRaw`,
 * deploy/native/kafka-javascript-consume-raw.patch, decision 0022): every record's value back to
 * back in one buffer, and five numbers per record in one Float64Array. librdkafka's own consume
 * builds a JavaScript object and copies a key and a value buffer per record, which cost a bare
 * consumer about 5 µs of its one thread per record; this form costs two allocations per batch.
 * Keys and headers are not delivered: the readings topic's records carry everything in the value.
 */
export interface RecordBatch {
  readonly count: number;
  readonly payloads: Buffer;
  /** Per record: partition, offset, timestamp, value start in `payloads`, value length (−1: null value). */
  readonly meta: Float64Array;
}

/** Numbers per record in `meta`, and where each sits. */
export const RECORD_FIELDS = 5;
const PARTITION = 0;
const OFFSET = 1;
const TIMESTAMP = 2;
const START = 3;
const LENGTH = 4;

export const EMPTY_BATCH: RecordBatch = { count: 0, payloads: Buffer.alloc(0), meta: new Float64Array(0) };

/** The batch the binding's callback delivers, checked for the layout this module reads. */
export function recordBatch(payloads: Buffer, meta: Float64Array): RecordBatch {
  if (meta.length % RECORD_FIELDS !== 0) throw new RangeError(`a record batch's meta has ${meta.length} numbers, not a multiple of ${RECORD_FIELDS}`);
  return { count: meta.length / RECORD_FIELDS, payloads, meta };
}

export function recordPartition(batch: RecordBatch, index: number): number {
  return batch.meta[index * RECORD_FIELDS + PARTITION]!;
}

export function recordOffset(batch: RecordBatch, index: number): number {
  return batch.meta[index * RECORD_FIELDS + OFFSET]!;
}

/** The record's Kafka timestamp (−1 when it has none). */
export function recordTimestamp(batch: RecordBatch, index: number): number {
  return batch.meta[index * RECORD_FIELDS + TIMESTAMP]!;
}

/**
 * The record's value as UTF-8 text, or null for a record without a value: decoded straight from the
 * batch's buffer, without the view recordValue makes (the runner calls it for every record).
 */
export function recordText(batch: RecordBatch, index: number): string | null {
  const at = index * RECORD_FIELDS;
  const length = batch.meta[at + LENGTH]!;
  if (length < 0) return null;
  const start = batch.meta[at + START]!;
  return batch.payloads.toString('utf8', start, start + length);
}

/** The record's value bytes (a view into the batch, not a copy), or null for a record without a value. */
export function recordValue(batch: RecordBatch, index: number): Buffer | null {
  const at = index * RECORD_FIELDS;
  const length = batch.meta[at + LENGTH]!;
  if (length < 0) return null;
  const start = batch.meta[at + START]!;
  return batch.payloads.subarray(start, start + length);
}

/** The records of the partitions `keep` accepts, as a batch of their own (the batch itself when it keeps them all). */
export function selectRecords(batch: RecordBatch, keep: (partition: number) => boolean): RecordBatch {
  const kept: number[] = [];
  for (let index = 0; index < batch.count; index++) if (keep(recordPartition(batch, index))) kept.push(index);
  if (kept.length === batch.count) return batch;
  const meta = new Float64Array(kept.length * RECORD_FIELDS);
  const values: Buffer[] = [];
  let start = 0;
  kept.forEach((index, position) => {
    const from = index * RECORD_FIELDS;
    const to = position * RECORD_FIELDS;
    meta.set(batch.meta.subarray(from, from + RECORD_FIELDS), to);
    meta[to + START] = start;
    const value = recordValue(batch, index);
    if (value !== null) {
      values.push(value);
      start += value.length;
    }
  });
  return { count: kept.length, payloads: Buffer.concat(values, start), meta };
}
