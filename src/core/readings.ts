/**
 * The normalized reading: what the edge bridge writes to the readings topic and what the
 * aggregator consumes. Shared by `edge/` and `src/` through the core, never through each other.
 *
 * Kafka record of the readings topic:
 *   key   = device id (so that a device's readings stay in order on one partition)
 *   value = JSON of `ReadingRecord` (a reading) or `TickRecord` (an idle-partition tick)
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
  /** When the bridge received it (epoch milliseconds, bridge clock). */
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

export function encodeTick(ingestTime: number, source: string): string {
  return JSON.stringify({ v: READING_SCHEMA_VERSION, tick: true, ingestTime, source });
}

export type DecodeResult =
  | { readonly ok: true; readonly record: ReadingsTopicRecord }
  | { readonly ok: false; readonly reason: string };

/**
 * Decodes a readings-topic value. The bridge validated it already; this guards the aggregator
 * against records written by something else (a wrong producer, an old schema version).
 */
export function decodeRecord(value: string | Buffer): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch {
    return { ok: false, reason: 'not-json' };
  }
  if (typeof parsed !== 'object' || parsed === null) return { ok: false, reason: 'not-an-object' };
  const record = parsed as Record<string, unknown>;
  if (record['v'] !== READING_SCHEMA_VERSION) return { ok: false, reason: 'unknown-schema-version' };
  if (record['tick'] === true) {
    return typeof record['ingestTime'] === 'number'
      ? { ok: true, record: parsed as TickRecord }
      : { ok: false, reason: 'bad-tick' };
  }
  if (
    typeof record['tenant'] !== 'string' ||
    typeof record['device'] !== 'string' ||
    typeof record['id'] !== 'string' ||
    typeof record['eventTime'] !== 'number' ||
    typeof record['ingestTime'] !== 'number' ||
    typeof record['metrics'] !== 'object' ||
    record['metrics'] === null
  ) {
    return { ok: false, reason: 'bad-reading-shape' };
  }
  return { ok: true, record: parsed as ReadingRecord };
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
