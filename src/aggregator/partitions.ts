import { PipelineError } from '../core/errors.ts';
import type { GuaranteeProfile } from '../core/guarantees.ts';
import { PartitionProcessor, type ProcessorSpec } from '../core/processor.ts';
import type { PipelineConfig } from '../config/schema.ts';
import type { CheckpointStore } from '../clickhouse/checkpoints.ts';
import type { Logger } from '../util/log.ts';

/**
 * The window state of the partitions this instance owns: one PartitionProcessor each, restored on
 * assignment and dropped on revocation.
 *
 * Restoring (exactly-once): the committed offset C of a partition is the position of a checkpoint
 * written to ClickHouse before C was committed; the processor is restored from that snapshot and
 * consumption resumes at C. Anything the previous owner emitted after C is emitted again, identical
 * (processing is deterministic), and collapses in ReplacingMergeTree.
 * Without checkpoints (at-least-once, at-most-once) consumption resumes at C with empty state.
 */
export class CheckpointMissingError extends PipelineError {
  constructor(pipeline: string, partition: number, offset: number) {
    super(
      'CHECKPOINT_MISSING',
      `pipeline '${pipeline}' partition ${partition}: Kafka has offset ${offset} committed but ClickHouse holds no checkpoint ` +
        'at that offset, so the open windows cannot be restored exactly. Was the checkpoints table dropped, or another ' +
        'consumer group committed under this name? Reset the group to a checkpointed offset, or delete the group to start over.',
      { retriable: false, context: { pipeline, partition, offset } },
    );
    this.name = 'CheckpointMissingError';
  }
}

/** A partition's position as taken by its owner at one moment. */
export interface PartitionPosition {
  readonly partition: number;
  /** The offset to commit (for a snapshot: the one its state stands at, the next one to read). */
  readonly offset: number;
  /** The processor the position was taken from: the partition's owner at that time. */
  readonly processor: PartitionProcessor;
}

export interface PartitionSnapshot extends PartitionPosition {
  readonly state: string;
}

export class PartitionStates {
  private readonly processors = new Map<number, PartitionProcessor>();

  constructor(
    private readonly pipeline: PipelineConfig,
    private readonly profile: GuaranteeProfile,
    private readonly checkpoints: CheckpointStore,
    private readonly logger: Logger,
  ) {}

  spec(partition: number): ProcessorSpec {
    const { name, window, watermark, latePolicy, idleTimeoutMs, maxDeviceClockOffsetMs } = this.pipeline;
    return { pipeline: name, partition, window, watermark, latePolicy, idleTimeoutMs, maxDeviceClockOffsetMs };
  }

  get(partition: number): PartitionProcessor | undefined {
    return this.processors.get(partition);
  }

  entries(): IterableIterator<[number, PartitionProcessor]> {
    return this.processors.entries();
  }

  get size(): number {
    return this.processors.size;
  }

  /** Builds the state of newly assigned partitions; returns where each one resumes. */
  async assign(
    partitions: readonly number[],
    committed: ReadonlyMap<number, number | null>,
    isCurrent: () => boolean = () => true,
  ): Promise<Map<number, number>> {
    const starts = new Map<number, number>();
    const restored = new Map<number, PartitionProcessor>();
    for (const partition of partitions) {
      const offset = committed.get(partition) ?? null;
      let processor: PartitionProcessor;
      if (offset !== null && this.profile.state.checkpointed) {
        const snapshot = await this.checkpoints.load(this.pipeline.name, partition, offset);
        if (snapshot === null) throw new CheckpointMissingError(this.pipeline.name, partition, offset);
        processor = PartitionProcessor.restore(this.spec(partition), snapshot);
      } else {
        processor = new PartitionProcessor(this.spec(partition));
      }
      restored.set(partition, processor);
      if (offset !== null) starts.set(partition, offset);
      this.logger.info(
        { pipeline: this.pipeline.name, partition, resumeAt: offset ?? 'earliest', restored: offset !== null && this.profile.state.checkpointed },
        'partition assigned',
      );
    }
    // Loading checkpoints is asynchronous: if a newer rebalance happened meanwhile, installing this
    // (older) state would overwrite the newer one and skip the records between the two offsets.
    if (!isCurrent()) return new Map();
    for (const [partition, processor] of restored) this.processors.set(partition, processor);
    return starts;
  }

  revoke(partitions: readonly number[]): void {
    for (const partition of partitions) this.processors.delete(partition);
    if (partitions.length > 0) this.logger.info({ pipeline: this.pipeline.name, partitions }, 'partitions revoked');
  }

  /** The offset to commit per partition under the profile (after the sink has everything before it). */
  commitPositions(): PartitionPosition[] {
    const positions: PartitionPosition[] = [];
    for (const [partition, processor] of this.processors) {
      const next = processor.nextOffset();
      if (next === null) continue;
      const offset =
        this.profile.consumer.commit === 'after-sink-earliest-needed' ? (processor.earliestNeededOffset() ?? next) : next;
      positions.push({ partition, offset, processor });
    }
    return positions;
  }

  /** Snapshots of every partition that has processed something, keyed by the offset they stand at. */
  snapshots(): PartitionSnapshot[] {
    const out: PartitionSnapshot[] = [];
    for (const [partition, processor] of this.processors) {
      const offset = processor.nextOffset();
      if (offset !== null) out.push({ partition, offset, state: processor.snapshot(), processor });
    }
    return out;
  }

  /**
   * Whether the position's processor still owns its partition. A commit completes asynchronously
   * (flushes, then the checkpoint insert): a partition revoked meanwhile belongs to its next owner,
   * which resumed from the offset committed before, so this instance must not commit over it; nor
   * may it when the partition came back to it, restored from that older offset by a new processor.
   */
  stillOwns(position: PartitionPosition): boolean {
    return this.processors.get(position.partition) === position.processor;
  }

  /** Minimum watermark over partitions that are not idle (an idle partition does not hold the instance back). */
  instanceWatermark(): number | null {
    let minimum: number | null = null;
    for (const processor of this.processors.values()) {
      if (processor.nextOffset() === null || processor.isIdle()) continue;
      const watermark = processor.watermark();
      if (Number.isFinite(watermark) && (minimum === null || watermark < minimum)) minimum = watermark;
    }
    return minimum;
  }
}
