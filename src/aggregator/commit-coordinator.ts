import { PipelineError, errorMessage } from '../core/errors.ts';
import type { CheckpointStore } from '../clickhouse/checkpoints.ts';
import type { ReadingsConsumer } from '../kafka/consumer.ts';
import { KafkaTransactionAbortedError, type TransactionalProducer } from '../kafka/transactional-producer.ts';
import type { Logger } from '../util/log.ts';
import type { AggregatorMetrics } from './metrics.ts';
import type { PartitionPosition, PartitionSnapshot, PartitionStates } from './partitions.ts';
import type { CrashPoints } from './crash-points.ts';

export interface CommitCoordinatorDeps {
  readonly pipeline: string;
  readonly labels: { readonly pipeline: string; readonly tier: string };
  /** Exactly-once: window state is checkpointed with each commit; at-least-once: only offsets. */
  readonly checkpointed: boolean;
  readonly readingsTopic: string;
  readonly partitions: PartitionStates;
  readonly checkpoints: CheckpointStore;
  readonly consumer: Pick<ReadingsConsumer, 'commit' | 'raw'>;
  /** The Kafka transaction's producer, once started: offsets are then committed in the transaction. */
  readonly transactional: () => TransactionalProducer | null;
  readonly metrics: AggregatorMetrics;
  readonly logger: Logger;
  readonly crashPoints?: CrashPoints;
  /** Hands everything emitted so far to a flush; resolves once it and every flush before are durable. */
  readonly flush: () => Promise<void>;
  readonly failed: () => boolean;
  /** Records a failure as the pipeline's (the first one counts). */
  readonly fail: (error: PipelineError) => void;
}

/**
 * The commit protocol of the at-least-once and exactly-once tiers. A commit is taken at a point of
 * the loop, X, and completes in the background: every flush up to X durable → all partitions'
 * checkpoints saved in one insert → offsets X committed, so that an offset is never committed
 * before everything it covers is durable. At most one commit is in flight. At-most-once never
 * commits here: librdkafka commits as it reads.
 */
export class CommitCoordinator {
  private current: Promise<void> | null = null;

  constructor(private readonly deps: CommitCoordinatorDeps) {}

  /** The commit completing in the background, if any (at most one). */
  get inFlight(): Promise<void> | null {
    return this.current;
  }

  /**
   * Takes a commit at this point of the loop, X: each owned partition's position (exactly-once:
   * its state snapshot at that offset; at-least-once: the earliest offset its open windows still
   * need), and hands the rows emitted up to X to a flush. The rest completes in the background
   * while the loop goes on; the returned promise never rejects (failures are recorded as fatal).
   */
  take(): Promise<void> {
    const durable = this.deps.flush();
    const { checkpointed, partitions } = this.deps;
    const positions: readonly PartitionPosition[] = checkpointed ? partitions.snapshots() : partitions.commitPositions();
    const commit = this.complete(durable, positions, checkpointed).finally(() => {
      this.current = null;
    });
    this.current = commit;
    return commit;
  }

  /**
   * Flushes up to X durable → checkpoints saved (one insert for all partitions) → offsets X
   * committed (in the Kafka transaction when late readings went to Kafka). A partition revoked
   * meanwhile is left out of both: its next owner resumes from the offset committed before.
   */
  private async complete(durable: Promise<void>, positions: readonly PartitionPosition[], checkpointed: boolean): Promise<void> {
    try {
      await durable;
    } catch {
      return; // a flush up to X failed and stopped the pipeline: nothing it covers may be committed
    }
    if (this.deps.failed()) return;
    const { deps } = this;
    const timer = deps.metrics.checkpointSeconds.startTimer(deps.labels);
    try {
      if (checkpointed) {
        const snapshots = (positions as readonly PartitionSnapshot[]).filter((snapshot) => deps.partitions.stillOwns(snapshot));
        await deps.checkpoints.saveAll(deps.pipeline, snapshots);
        let bytes = 0;
        for (const snapshot of snapshots) bytes += snapshot.state.length;
        deps.metrics.checkpointBytes.set(deps.labels, bytes);
      }
      // No await between this ownership check and the plain commit (commitSync runs in the call), so
      // no rebalance slips in between; a transactional commit sends the group's generation along,
      // and the broker refuses it if a rebalance did.
      const owned = new Map(positions.filter((position) => deps.partitions.stillOwns(position)).map((position) => [position.partition, position.offset]));
      if (owned.size === 0) return;
      deps.crashPoints?.reached('after-insert-before-commit');
      const transactional = deps.transactional();
      if (transactional) {
        if (transactional.recordsInTransaction > 0) deps.crashPoints?.reached('in-late-transaction');
        await transactional.commit(deps.consumer.raw(), deps.readingsTopic, owned);
      } else {
        await deps.consumer.commit(owned);
      }
      deps.metrics.checkpoints.inc(deps.labels);
      deps.crashPoints?.reached('after-commit');
    } catch (error) {
      if (this.isHarmlessRefusal(error, positions)) {
        deps.metrics.commitErrors.inc(deps.labels);
        deps.logger.warn({ pipeline: deps.pipeline, err: error }, 'offset commit refused; the next owner resumes from the last committed checkpoint');
        return;
      }
      deps.fail(error instanceof PipelineError ? error : new PipelineError('CHECKPOINT_FAILED', errorMessage(error), { cause: error }));
    } finally {
      timer();
    }
  }

  /**
   * A refused commit is safe when nothing it covered is lost: the partitions' next owner (perhaps
   * this instance again, restored afresh) resumes from the last committed checkpoint. That holds
   * for a plain offset commit, and for an aborted transaction that took no late records back or
   * whose partitions all went to their next owner meanwhile. An aborted transaction's records are
   * gone while this instance goes on from past them, and a producer that is fatal (fenced, a failed
   * abort) or in an impossible state commits nothing ever again: those stop the pipeline, loudly.
   * Matched by exact code, never by prefix (KAFKA_TRANSACTION_STATE is not a refusal).
   */
  private isHarmlessRefusal(error: unknown, positions: readonly PartitionPosition[]): boolean {
    if (!(error instanceof PipelineError)) return false;
    if (error.code === 'KAFKA_COMMIT') return true;
    if (error instanceof KafkaTransactionAbortedError) {
      return error.records === 0 || !positions.some((position) => this.deps.partitions.stillOwns(position));
    }
    return false;
  }
}
