/**
 * The normalized reading: what the edge bridge writes to the readings topic and what the
 * aggregator consumes. Shared by `edge/` and `src/` through the core, never through each other.
 *
 * Kafka record of the readings topic:
 *   key   = device id (so that a device's readings stay in order on one partition)
 *   value = JSON of one of
 *     `ReadingRecord` — one reading:
 *        {"v":1,"tenant":…,"device":…,"id":…,"eventTime":…,"ingestTime":…,"metrics":{…}}
 *     `BatchRecord`   — the readings of ONE device from ONE intake message (an MQTT message, or a
 *        device's share of an HTTP gateway body), in the message's order:
 *        {"v":1,"kind":"batch","tenant":…,"device":…,"ingestTime":…,
 *         "readings":[{"id":…,"eventTime":…,"metrics":{…}},…]}
 *     `TickRecord`    — an idle-partition tick (key null, explicit partition):
 *        {"v":1,"tick":true,"ingestTime":…,"source":…}
 * The bridge writes a message with one reading as a ReadingRecord and a message with several as a
 * BatchRecord (split by device, and by size: see MAX_BATCH_RECORD_CHARS). Batching is what lets one
 * Kafka record carry many readings: librdkafka's per-record cost, not the bytes, bounds the bridge.
 * A consumer reads both forms through `decodeRecord`, which returns the readings in order; every
 * reading of a record shares that record's offset (a record is processed, replayed and committed
 * as one unit, which is also the unit the device's message is retried as).
 * Encoding is deterministic: the same readings always give the same bytes.
 */
export const READING_SCHEMA_VERSION = 1;

export interface Reading {
  readonly tenant: string;
  readonly device: string;
  /**
   * Unique per device: the device's sequence number or message id. A redelivery carries the same
   * id, which is how every later stage recognises it.
   */
  readonly id: string;
  /** When the device measured it (epoch milliseconds, device clock). */
  readonly eventTime: number;
  /**
   * When it reached the pipeline (epoch milliseconds). The bridge writes its own clock here; the
   * aggregator replaces it with the record's log timestamp, the partition leader's append time
   * (decision 0012), so that no bridge host's clock bends watermarks, late decisions or latency.
   */
  readonly ingestTime: number;
  /** metric name → value; finite numbers only. */
  readonly metrics: Readonly<Record<string, number>>;
}

export interface ReadingRecord extends Reading {
  readonly v: typeof READING_SCHEMA_VERSION;
}

/**
 * Written by every bridge to every partition at a fixed interval. It carries the bridge's ingest
 * clock into partitions that receive no readings, so that their watermark can still advance in a
 * way that replays identically (the aggregator reads time only from the log, never from its clock).
 */
export interface TickRecord {
  readonly v: typeof READING_SCHEMA_VERSION;
  readonly tick: true;
  readonly ingestTime: number;
  readonly source: string;
}

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

/** A record the aggregator's processor takes: one reading or a tick (a batch is taken reading by reading). */
export type ReadingsTopicRecord = ReadingRecord | TickRecord;

export function isTick(record: ReadingsTopicRecord): record is TickRecord {
  return (record as TickRecord).tick === true;
}

export function encodeReading(reading: Reading): string {
  // Field order fixed so that the same reading always encodes to the same bytes.
  return JSON.stringify({
    v: READING_SCHEMA_VERSION,
    tenant: reading.tenant,
    device: reading.device,
    id: reading.id,
    eventTime: reading.eventTime,
    ingestTime: reading.ingestTime,
    metrics: reading.metrics,
  });
}

/**
 * The readings of one device from one intake message, all sharing tenant, device and ingest time
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

export function encodeTick(ingestTime: number, source: string): string {
  return JSON.stringify({ v: READING_SCHEMA_VERSION, tick: true, ingestTime, source });
}

export type DecodeResult =
  | {
      readonly ok: true;
      /** The tick, when the record is one (then `readings` is empty). */
      readonly tick: TickRecord | null;
      /** The record's readings in order: one for a ReadingRecord, all of a BatchRecord's. */
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
 * A batch with one malformed reading is refused whole: its readings were validated together.
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
  const fromLog = logTime !== undefined && logTime >= 0;
  if (record['tick'] === true) {
    if (typeof record['ingestTime'] !== 'number') return { ok: false, reason: 'bad-tick' };
    if (fromLog) record['ingestTime'] = logTime; // parsed here: nobody else holds the object
    return { ok: true, tick: parsed as TickRecord, readings: NO_READINGS };
  }
  const kind = record['kind'];
  if (kind === 'batch') return decodeBatch(record, fromLog ? logTime : undefined);
  if (kind !== undefined) return { ok: false, reason: 'unknown-record-kind' };
  if (
    typeof record['tenant'] !== 'string' ||
    typeof record['device'] !== 'string' ||
    !hasReadingFields(record)
  ) {
    return { ok: false, reason: 'bad-reading-shape' };
  }
  if (fromLog) record['ingestTime'] = logTime;
  return { ok: true, tick: null, readings: [parsed as ReadingRecord] };
}

function decodeBatch(record: Record<string, unknown>, logTime: number | undefined): DecodeResult {
  const { tenant, device, readings: items } = record;
  const written = record['ingestTime'];
  if (typeof tenant !== 'string' || typeof device !== 'string' || typeof written !== 'number' || !Array.isArray(items) || items.length === 0) {
    return { ok: false, reason: 'bad-batch-shape' };
  }
  const ingestTime = logTime ?? written;
  const readings: ReadingRecord[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i];
    if (typeof item !== 'object' || item === null || !hasReadingFields(item as Record<string, unknown>, ingestTime)) {
      return { ok: false, reason: 'bad-batch-shape' };
    }
    const { id, eventTime, metrics } = item as BatchedReading;
    readings[i] = { v: READING_SCHEMA_VERSION, tenant, device, id, eventTime, ingestTime, metrics };
  }
  return { ok: true, tick: null, readings };
}

/** id, eventTime, ingestTime (unless the batch supplies it) and metrics have their types. */
function hasReadingFields(fields: Record<string, unknown>, batchIngestTime?: number): boolean {
  const metrics = fields['metrics'];
  return (
    typeof fields['id'] === 'string' &&
    typeof fields['eventTime'] === 'number' &&
    (batchIngestTime !== undefined || typeof fields['ingestTime'] === 'number') &&
    typeof metrics === 'object' &&
    metrics !== null &&
    !Array.isArray(metrics)
  );
}

/** Why the bridge refused input. Stable strings: metrics are labelled by them. */
export const REJECTION_REASONS = [
  'malformed-json',
  'not-utf8',
  'payload-too-large',
  'too-deeply-nested',
  'schema',
  'non-finite-value',
  'too-many-readings',
  'too-many-metrics',
  'device-mismatch',
  'bad-topic',
  'event-time-too-far-ahead',
  'event-time-too-far-behind',
  'unknown-gateway-key',
  'id-too-long',
  'tenant-mismatch',
  // Binary codecs (src/core/codecs/): a message their decoder cannot read, and what it says that the pipeline cannot take.
  'undecodable',
  'missing-field',
  'wrong-type',
  'unsupported-type',
  'unknown-alias',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** A dead-letter record: the reason, a detail for a person, and the original bytes. */
export interface DeadLetterRecord {
  readonly v: typeof READING_SCHEMA_VERSION;
  readonly reason: RejectionReason;
  readonly detail: string;
  readonly source: 'mqtt' | 'http';
  /** The MQTT topic or the HTTP gateway name. */
  readonly origin: string;
  readonly receivedAt: number;
  /** Index of the reading inside its message, when one reading of a batch was refused. */
  readonly index: number | null;
  readonly payloadBase64: string;
}
