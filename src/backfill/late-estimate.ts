import { PartitionProcessor, type ProcessorOutput, type ProcessorSpec } from '../core/processor.ts';
import { READING_SCHEMA_VERSION, type Reading } from '../core/readings.ts';
import { partitionForKey } from '../advisor/partitioner.ts';

/**
 * What a pipeline will do with a backfill's readings, told before anything is written: the
 * readings go through the pipeline's own processor (its windows, watermark, device clocks and late
 * policy), partition by partition as Kafka will spread them (keyed by device), in the order the
 * backfill writes them, each partition starting from the state it is known to be in (the
 * pipeline's latest checkpoint) or from an empty one. Pure.
 *
 * It is an estimate: live readings arriving meanwhile move the watermark too, and a pipeline
 * without checkpoints is assumed fresh.
 */
export interface LateEstimate {
  readonly readings: number;
  /** Readings with at least one value that missed its window: dropped or sent to the late topic. */
  readonly late: number;
  /** Readings that corrected an emitted window (late policy 'reemit', within the allowed lateness). */
  readonly reemitted: number;
  /** Readings whose id the window already held (a file loaded twice while its windows are open). */
  readonly duplicates: number;
  /** Partitions estimated from a checkpoint (the rest from an empty state). */
  readonly fromCheckpoint: number;
  readonly partitions: number;
}

export interface EstimateInput {
  readonly partitions: number;
  readonly specOf: (partition: number) => ProcessorSpec;
  /** The partition's latest checkpointed state, or null. */
  readonly stateOf: (partition: number) => string | null;
  /** The ingest time the readings will carry (the backfill's start). */
  readonly ingestTime: number;
}

const IGNORE: ProcessorOutput = { emitRow: () => undefined, emitLate: () => undefined };

export function estimateLate(readings: readonly Reading[], input: EstimateInput): LateEstimate {
  const processors = new Map<number, { processor: PartitionProcessor; offset: number }>();
  let fromCheckpoint = 0;
  let late = 0;
  let reemitted = 0;
  let duplicates = 0;
  for (const reading of readings) {
    const partition = partitionForKey(reading.device, input.partitions);
    let entry = processors.get(partition);
    if (entry === undefined) {
      const state = input.stateOf(partition);
      const processor = state === null ? new PartitionProcessor(input.specOf(partition)) : PartitionProcessor.restore(input.specOf(partition), state);
      if (state !== null) fromCheckpoint++;
      entry = { processor, offset: processor.nextOffset() ?? 0 };
      processors.set(partition, entry);
    }
    const stats = entry.processor.stats;
    const missedBefore = stats.lateDropped + stats.lateToTopic;
    const absorbedBefore = stats.lateAbsorbed;
    const duplicatesBefore = stats.duplicates;
    entry.processor.processReadings([{ ...reading, v: READING_SCHEMA_VERSION, ingestTime: input.ingestTime }], entry.offset++, IGNORE);
    if (stats.lateDropped + stats.lateToTopic > missedBefore) late++;
    else if (stats.lateAbsorbed > absorbedBefore) reemitted++;
    if (stats.duplicates > duplicatesBefore) duplicates++;
  }
  return { readings: readings.length, late, reemitted, duplicates, fromCheckpoint, partitions: processors.size };
}

/** Backfilled readings are written oldest first (stable): each partition sees its event times in order, so as few as possible are late. */
export function inWriteOrder(readings: readonly Reading[]): Reading[] {
  return readings
    .map((reading, index) => ({ reading, index }))
    .sort((a, b) => a.reading.eventTime - b.reading.eventTime || a.index - b.index)
    .map((entry) => entry.reading);
}
