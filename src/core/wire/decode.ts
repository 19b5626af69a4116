import { READING_SCHEMA_VERSION, type ReadingRecord, type TickRecord } from '../readings.ts';
import { decodeBatchRecord } from './batch.ts';
import { decodeReadingRecord } from './reading.ts';
import { decodeTickRecord } from './tick.ts';

/**
 * The records of the readings topic: what the edge bridge writes and the aggregator consumes.
 *   key   = device id (so that a device's readings stay in order on one partition)
 *   value = JSON of one of
 *     a reading record (reading.ts) — one reading;
 *     a batch record (batch.ts)     — the readings of one device from one intake message;
 *     a tick record (tick.ts)       — an idle-partition tick (key null, explicit partition).
 * The bridge writes a message with one reading as a reading record and a message with several as
 * a batch record (split by device, and by size: MAX_BATCH_RECORD_CHARS). Batching is what lets one
 * Kafka record carry many readings: librdkafka's per-record cost, not the bytes, bounds the bridge.
 * A consumer reads every form through `decodeRecord`, which returns the readings in order; every
 * reading of a record shares that record's offset (a record is processed, replayed and committed
 * as one unit, which is also the unit the device's message is retried as).
 * Encoding is deterministic: the same readings always give the same bytes. Each form's file holds
 * its encoders and its decoder; this one reads a value and hands it to its form.
 */

export type DecodeResult =
  | {
      readonly ok: true;
      /** The tick, when the record is one (then `readings` is empty). */
      readonly tick: TickRecord | null;
      /** The record's readings in order: one for a reading record, all of a batch record's. */
      readonly readings: readonly ReadingRecord[];
    }
  | { readonly ok: false; readonly reason: DecodeFailure };

export type DecodeFailure =
  | 'not-json'
  | 'not-an-object'
  | 'unknown-schema-version'
  | 'bad-tick'
  | 'bad-reading-shape'
  | 'unknown-record-kind'
  | 'bad-batch-shape';

const NO_READINGS: readonly ReadingRecord[] = [];

/**
 * Decodes a readings-topic value, single-reading and batch records alike (topics written before
 * batch records hold single ones). The bridge validated the readings already; this guards the
 * consumers against records written by something else (a wrong producer, an old schema version).
 *
 * `logTime`, the record's Kafka timestamp, becomes the ingest time of the record's readings or
 * tick in place of the one the bridge wrote; absent or negative (librdkafka's "none") it is not used.
 */
export function decodeRecord(value: string | Buffer, logTime?: number): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch {
    return { ok: false, reason: 'not-json' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, reason: 'not-an-object' };
  const record = parsed as Record<string, unknown>;
  if (record['v'] !== READING_SCHEMA_VERSION) return { ok: false, reason: 'unknown-schema-version' };
  const fromLog = logTime !== undefined && logTime >= 0 ? logTime : undefined;
  if (record['tick'] === true) {
    const tick = decodeTickRecord(record, fromLog);
    return tick === undefined ? { ok: false, reason: 'bad-tick' } : { ok: true, tick, readings: NO_READINGS };
  }
  const kind = record['kind'];
  if (kind === 'batch') {
    const readings = decodeBatchRecord(record, fromLog);
    return readings === undefined ? { ok: false, reason: 'bad-batch-shape' } : { ok: true, tick: null, readings };
  }
  if (kind !== undefined) return { ok: false, reason: 'unknown-record-kind' };
  const reading = decodeReadingRecord(record, fromLog);
  return reading === undefined ? { ok: false, reason: 'bad-reading-shape' } : { ok: true, tick: null, readings: [reading] };
}
