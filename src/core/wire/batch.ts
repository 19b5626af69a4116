import { READING_SCHEMA_VERSION, type Reading, type ReadingRecord } from '../readings.ts';
import { encodeValidatedMetrics, hasReadingFields } from './reading.ts';

/**
 * The batch record of the readings topic: the readings of ONE device from ONE intake message (an
 * MQTT message, or a device's share of an HTTP gateway body), in the message's order, sharing
 * tenant, device and ingest time:
 *   {"v":1,"kind":"batch","tenant":…,"device":…,"ingestTime":…,
 *    "readings":[{"id":…,"eventTime":…,"metrics":{…}},…]}
 * Its plain encoder, its fast encoder for validated readings (which also cuts by size) and its
 * decoder. test/unit/wire-fast-paths.test.ts holds the fast encoder equal to the plain one.
 */

/** What a reading of a BatchRecord carries of its own; the rest is the batch's. */
export interface BatchedReading {
  readonly id: string;
  readonly eventTime: number;
  readonly metrics: Readonly<Record<string, number>>;
}

/** The readings of one device from one intake message: tenant, device and ingest time shared. */
export interface BatchRecord {
  readonly v: typeof READING_SCHEMA_VERSION;
  readonly kind: 'batch';
  readonly tenant: string;
  readonly device: string;
  readonly ingestTime: number;
  readonly readings: readonly BatchedReading[];
}

/**
 * A batch record's JSON stays at most this many characters (a device's readings beyond it go to a
 * further record), so that it stays below Kafka's 1 MB record limit even if every character of an
 * id took 3 bytes of UTF-8. An MQTT message (256 KiB at most) fits in one record.
 */
export const MAX_BATCH_RECORD_CHARS = 320 * 1024;

/**
 * Any readings of one device from one intake message, all sharing tenant, device and ingest time
 * (the first reading's). Field order fixed, as in encodeReading. Does not split: the caller keeps
 * a record under MAX_BATCH_RECORD_CHARS.
 */
export function encodeReadingBatch(readings: readonly Reading[]): string {
  const first = readings[0];
  if (first === undefined) throw new RangeError('a batch record holds at least one reading');
  return JSON.stringify({
    v: READING_SCHEMA_VERSION,
    kind: 'batch',
    tenant: first.tenant,
    device: first.device,
    ingestTime: first.ingestTime,
    readings: readings.map((reading) => ({ id: reading.id, eventTime: reading.eventTime, metrics: reading.metrics })),
  });
}

/** One batch record of `encodeValidatedBatches` and how many readings it carries. */
export interface EncodedBatch {
  readonly value: string;
  readonly readings: number;
}

/**
 * `encodeReadingBatch` for validated readings of ONE device from one message, byte for byte (the
 * guarantees of encodeValidatedReading), cut into as few records as keep each under `maxChars`
 * (MAX_BATCH_RECORD_CHARS), readings in order. A reading larger than `maxChars` on its own still
 * gets a record (validation bounds its size).
 */
export function encodeValidatedBatches(readings: readonly Reading[], maxChars: number = MAX_BATCH_RECORD_CHARS): EncodedBatch[] {
  const first = readings[0];
  if (first === undefined) return [];
  const head =
    '{"v":' + READING_SCHEMA_VERSION +
    ',"kind":"batch","tenant":"' + first.tenant +
    '","device":"' + first.device +
    '","ingestTime":' + first.ingestTime +
    ',"readings":[';
  const batches: EncodedBatch[] = [];
  let body = '';
  let count = 0;
  for (let i = 0; i < readings.length; i++) {
    const item = encodeValidatedBatchedReading(readings[i]!);
    if (count > 0 && head.length + body.length + item.length + 3 > maxChars) {
      batches.push({ value: head + body + ']}', readings: count });
      body = '';
      count = 0;
    }
    body += count === 0 ? item : ',' + item;
    count++;
  }
  batches.push({ value: head + body + ']}', readings: count });
  return batches;
}

function encodeValidatedBatchedReading(reading: Reading): string {
  return (
    '{"id":' + JSON.stringify(reading.id) +
    ',"eventTime":' + reading.eventTime +
    ',"metrics":' + encodeValidatedMetrics(reading.metrics) +
    '}'
  );
}

/**
 * A parsed batch record (version and kind checked by the caller) as its readings in order, each a
 * ReadingRecord with the batch's tenant, device and ingest time (`logTime` in place of the written
 * one, when given); undefined when the batch or any of its readings is malformed: a batch is
 * refused whole, its readings were validated together.
 */
export function decodeBatchRecord(record: Record<string, unknown>, logTime: number | undefined): ReadingRecord[] | undefined {
  const { tenant, device, readings: items } = record;
  const written = record['ingestTime'];
  if (typeof tenant !== 'string' || typeof device !== 'string' || typeof written !== 'number' || !Array.isArray(items) || items.length === 0) {
    return undefined;
  }
  const ingestTime = logTime ?? written;
  const readings: ReadingRecord[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i];
    if (typeof item !== 'object' || item === null || !hasReadingFields(item as Record<string, unknown>, ingestTime)) return undefined;
    const { id, eventTime, metrics } = item as BatchedReading;
    readings[i] = { v: READING_SCHEMA_VERSION, tenant, device, id, eventTime, ingestTime, metrics };
  }
  return readings;
}
