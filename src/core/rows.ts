/**
 * What the aggregator writes to ClickHouse. The window processor produces these; the ClickHouse
 * sink stores them. All times are epoch milliseconds (ClickHouse 18.16 has no DateTime64, so the
 * tables keep UInt64 milliseconds beside second-resolution DateTime columns).
 *
 * Determinism: every field but `emittedAt` is a pure function of the readings in the window, so
 * a replay after a crash writes the same row with the same version, which ReplacingMergeTree
 * collapses. `version` is the number of distinct readings in the window: it only grows when a
 * late reading corrects an emitted window, so the most complete row always wins.
 */
export interface AggregateRow {
  readonly pipeline: string;
  readonly tenant: string;
  readonly device: string;
  readonly metric: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  /** Value of the reading with the earliest event time (ties: the smaller value). */
  readonly first: number;
  /** Value of the reading with the latest event time (ties: the larger value). */
  readonly last: number;
  readonly firstTime: number;
  readonly lastTime: number;
  /** Median estimate from a deterministic bottom-k sample of the values (exact below k readings). */
  readonly p50: number;
  /** Readings absorbed after the window was first emitted (late, within the allowed lateness). */
  readonly lateReadings: number;
  /** The latest bridge ingest time among the window's readings: end-to-end latency starts here. */
  readonly maxIngestTime: number;
  /** Kafka partition of the readings (devices are keyed, so a window lives in one partition). */
  readonly partition: number;
  readonly version: number;
}

/** A row ready for the sink: the processor's row plus when it was emitted (wall clock). */
export interface EmittedAggregateRow extends AggregateRow {
  readonly emittedAt: number;
}

/** One accepted reading's metric value, for the raw-readings audit table (deduplicated by id). */
export interface RawReadingRow {
  readonly tenant: string;
  readonly device: string;
  readonly readingId: string;
  readonly metric: string;
  readonly value: number;
  readonly eventTime: number;
  readonly ingestTime: number;
  readonly partition: number;
  readonly offset: number;
}
