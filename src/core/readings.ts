/**
 * The normalized reading and the values of the readings topic: what the edge bridge writes and
 * what the aggregator consumes. Shared by `edge/` and `src/` through the core, never through each
 * other. How these are written as bytes and read back is the wire module's (src/core/wire/).
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

/** A record the aggregator's processor takes: one reading or a tick (a batch is taken reading by reading). */
export type ReadingsTopicRecord = ReadingRecord | TickRecord;

export function isTick(record: ReadingsTopicRecord): record is TickRecord {
  return (record as TickRecord).tick === true;
}

/** The reasons the JSON payload validator (validation.ts) refuses a device message with: the JSON codec's. */
export const JSON_REJECTION_REASONS = [
  'malformed-json',
  'not-utf8',
  'payload-too-large',
  'too-deeply-nested',
  'schema',
  'non-finite-value',
  'too-many-readings',
  'too-many-metrics',
  'device-mismatch',
  'tenant-mismatch',
  'event-time-too-far-ahead',
  'event-time-too-far-behind',
  'id-too-long',
] as const;

/** Why the bridge refused input. Stable strings: metrics are labelled by them. */
export const REJECTION_REASONS = [
  ...JSON_REJECTION_REASONS,
  'bad-topic',
  'unknown-gateway-key',
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
