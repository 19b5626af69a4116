import type { Config, PipelineConfig } from '../config/schema.ts';
import { PipelineError, errorMessage } from '../core/errors.ts';
import { guaranteeProfile, type GuaranteeProfile } from '../core/guarantees.ts';
import type { GuaranteeSettings } from '../core/failure-analysis.ts';
import { guaranteeSettings } from '../config/guarantees.ts';
import type { PartitionProcessor, ProcessorOutput } from '../core/processor.ts';
import type { ReadingRecord } from '../core/readings.ts';
import { FlushQueue } from './flush-queue.ts';
import type { CheckpointStore } from '../clickhouse/checkpoints.ts';
import type { AggregateSink } from '../clickhouse/sink.ts';
import { DEFAULT_RESTORE_RETRY, ReadingsConsumer } from '../kafka/consumer.ts';
import type { KafkaProducer } from '../kafka/producer.ts';
import { TransactionalProducer } from '../kafka/transactional-producer.ts';
import type { Logger } from '../util/log.ts';
import type { AggregatorMetrics } from './metrics.ts';
import { PartitionStates } from './partitions.ts';
import type { CrashPoints } from './crash-points.ts';
import { collectRaw, emptyBatch, writeBatch, type BatchWriterDeps, type FlushBatch } from './batch-writer.ts';
import { CommitCoordinator } from './commit-coordinator.ts';
import { routeLate, type LateRouterDeps } from './late-router.ts';
import { decodeMessage, feedRecord } from './record-decoding.ts';
import { recordOffset, recordPartition, recordText, recordTimestamp, type RecordBatch } from '../kafka/record-batch.ts';
import { RunnerGauges } from './runner-gauges.ts';
import { RunnerState } from './runner-state.ts';

/**
 * One pipeline: its own consumer group over the readings topic, window state per owned partition,
 * and the commit protocol of its guarantee tier. The loop consumes a batch, processes it, and when
 * due hands the rows emitted so far to a flush (FlushQueue: in order, one insert at a time) and
 * keeps processing while ClickHouse writes them. A commit (CommitCoordinator) is taken at a point
 * of the loop and completes in the background; at most one is in flight, and with Kafka
 * transactions (late topic) the loop waits for it (see run).
 */
export interface PipelineRunnerDeps {
  readonly config: Config;
  readonly pipeline: PipelineConfig;
  readonly sink: AggregateSink;
  readonly checkpoints: CheckpointStore;
  readonly metrics: AggregatorMetrics;
  readonly logger: Logger;
  /** This pipeline also writes the raw-readings audit table. */
  readonly writesRawReadings: boolean;
  readonly instanceId: string;
  /** Non-transactional producer for the late topic (tiers without Kafka transactions). */
  readonly lateProducer?: KafkaProducer;
  readonly crashPoints?: CrashPoints;
  readonly now?: () => number;
}

const CONSUME_BATCH = 5000;
/**
 * Flushes queued or being written before the loop waits: one being inserted while the next batch
 * fills. More would only queue rows in memory when ClickHouse is the bottleneck.
 */
const MAX_UNFINISHED_FLUSHES = 2;

export class PipelineRunner {
  private readonly deps: PipelineRunnerDeps;
  private readonly profile: GuaranteeProfile;
  /** The profile with the configuration's explicit consumer settings applied (validated at load). */
  private readonly settings: GuaranteeSettings;
  private readonly labels: { pipeline: string; tier: string };
  private readonly consumer: ReadingsConsumer;
  private readonly partitions: PartitionStates;
  private readonly now: () => number;
  private readonly state: RunnerState;
  private readonly commits: CommitCoordinator;
  private readonly gauges: RunnerGauges;
  private readonly writer: BatchWriterDeps;
  private readonly late: LateRouterDeps;
  private readonly flushes: FlushQueue<FlushBatch>;
  private readonly output: ProcessorOutput;
  /** Created by start() when late readings go to Kafka in the tier's transactions. */
  private transactional: TransactionalProducer | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  /** What the next flush writes, filling as the loop processes. */
  private pending: FlushBatch;

  constructor(deps: PipelineRunnerDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.profile = guaranteeProfile(deps.pipeline.guarantee);
    this.settings = guaranteeSettings(deps.config, deps.pipeline);
    this.labels = { pipeline: deps.pipeline.name, tier: this.profile.name };
    this.state = new RunnerState(deps.pipeline.name);
    this.partitions = new PartitionStates(deps.pipeline, this.profile, deps.checkpoints, deps.logger);
    this.consumer = new ReadingsConsumer({
      connection: deps.config.kafka,
      groupId: deps.pipeline.consumerGroup,
      clientId: `${deps.config.kafka.clientId}-${deps.pipeline.name}-${deps.instanceId}`,
      topic: deps.config.kafka.readingsTopic,
      sessionTimeoutMs: deps.config.aggregator.sessionTimeoutMs,
      isolation: this.settings.consumer.isolation,
      autoCommit: this.settings.consumer.autoCommit,
      onAssigned: (partitions, committed, isCurrent) => this.partitions.assign(partitions, committed, isCurrent),
      onRevoked: (partitions) => this.partitions.revoke(partitions),
      onError: (error) => this.onConsumerError(error),
      // Restoring reads the checkpoint from ClickHouse: it gets the same budget as an insert.
      restoreRetry: { ...DEFAULT_RESTORE_RETRY, maxElapsedMs: deps.config.clickhouse.insertMaxElapsedMs },
      onRestoreRetry: (error, attempt, delayMs) => {
        this.deps.metrics.restoreRetries.inc(this.labels);
        this.deps.logger.warn({ pipeline: this.name, err: error, attempt, delayMs }, 'restoring assigned partitions failed; retrying');
      },
    });
    const fail = (error: PipelineError): PipelineError => this.fail(error);
    this.writer = {
      pipeline: deps.pipeline.name,
      table: deps.pipeline.table,
      labels: this.labels,
      sink: deps.sink,
      metrics: deps.metrics,
      ...(deps.crashPoints ? { crashPoints: deps.crashPoints } : {}),
      now: this.now,
      fatal: () => this.state.fatal,
      fail,
    };
    this.late = {
      pipeline: deps.pipeline.name,
      topic: deps.config.kafka.lateTopic,
      labels: this.labels,
      metrics: deps.metrics,
      ...(deps.lateProducer ? { lateProducer: deps.lateProducer } : {}),
      transactional: () => this.transactional,
      fail,
    };
    this.commits = new CommitCoordinator({
      pipeline: deps.pipeline.name,
      labels: this.labels,
      checkpointed: this.profile.state.checkpointed,
      readingsTopic: deps.config.kafka.readingsTopic,
      partitions: this.partitions,
      checkpoints: deps.checkpoints,
      consumer: this.consumer,
      transactional: () => this.transactional,
      metrics: deps.metrics,
      logger: deps.logger,
      ...(deps.crashPoints ? { crashPoints: deps.crashPoints } : {}),
      flush: () => this.startFlush(),
      failed: () => this.state.fatal !== null,
      fail,
    });
    this.gauges = new RunnerGauges(deps.metrics, this.labels, this.partitions, this.consumer);
    this.flushes = new FlushQueue((batch) => writeBatch(this.writer, batch), MAX_UNFINISHED_FLUSHES);
    this.pending = emptyBatch(deps.sink);
    this.output = {
      emitRow: (row) => this.pending.rows.push(row),
      emitLate: (reading, metric) => this.onLate(reading, metric),
    };
  }

  get name(): string {
    return this.deps.pipeline.name;
  }

  get tier(): string {
    return this.profile.name;
  }

  isHealthy(): boolean {
    return this.state.healthy;
  }

  status(): Record<string, unknown> {
    return {
      pipeline: this.name,
      tier: this.tier,
      state: this.state.phase,
      partitions: this.consumer.readyPartitions(),
      watermark: this.partitions.instanceWatermark(),
      error: this.state.fatal?.message ?? null,
    };
  }

  async start(): Promise<void> {
    this.state.assertStartable();
    if (this.profile.kafkaWrites.transactional && this.deps.pipeline.latePolicy.kind === 'late-topic') {
      this.transactional = new TransactionalProducer({
        connection: this.deps.config.kafka,
        transactionalId: `tp-${this.deps.pipeline.consumerGroup}-${this.deps.instanceId}`,
        clientId: `${this.deps.config.kafka.clientId}-${this.name}-txn`,
      });
      await this.transactional.connect();
    }
    await this.consumer.connect();
    this.consumer.setConsumeTimeout(100);
    this.state.started(this.now());
    this.loopDone = this.loop();
  }

  /** Resolves when the loop ends: after stop(), or with the error that stopped it. */
  get finished(): Promise<void> {
    return this.loopDone;
  }

  /** Graceful stop: finish the batch and the commit in flight, flush, checkpoint and commit, leave the group. */
  async stop(): Promise<void> {
    this.state.stopping();
    await this.loopDone.catch(() => undefined);
    await this.commits.inFlight;
    if (this.state.fatal === null) {
      if (this.settings.consumer.autoCommit) await this.startFlush().catch(() => undefined);
      else await this.startCommit();
    }
    await this.flushes.settled();
    await this.consumer.disconnect();
    await this.transactional?.close();
    this.state.stopped();
  }

  /** Anything that ends the loop marks the pipeline failed, so that stop() commits nothing after it. */
  private async loop(): Promise<void> {
    try {
      await this.run();
    } catch (error) {
      throw this.fail(error instanceof PipelineError ? error : new PipelineError('RUNNER_FAILED', `pipeline ${this.name}: ${errorMessage(error)}`, { cause: error }));
    }
  }

  /**
   * The next batch is requested before this one is processed: librdkafka gathers it in a worker
   * thread meanwhile, instead of the loop waiting for it afterwards. A batch read ahead may wait
   * through a rebalance, so it is filtered again right before processing (stillCurrent). A batch
   * requested is always processed (at stop too: at-most-once has its offsets stored as soon as it
   * is read), except after a failure, which commits nothing more anyway.
   */
  private async run(): Promise<void> {
    let next: Promise<RecordBatch> | null = null;
    try {
      while (this.state.running) {
        if (this.state.fatal) throw this.state.fatal;
        const batch = await (next ?? this.consumer.consume(CONSUME_BATCH));
        next = this.state.running ? this.consumer.consume(CONSUME_BATCH) : null;
        this.processBatch(this.consumer.stillCurrent(batch));
        const now = this.now();
        const commitDue =
          !this.settings.consumer.autoCommit &&
          this.commits.inFlight === null &&
          now - this.state.lastCheckpointAt >= this.deps.config.aggregator.checkpointIntervalMs;
        if (commitDue) {
          const commit = this.startCommit();
          // A late reading produced during commitTransaction would join the transaction being
          // committed (or be refused): with Kafka transactions nothing is processed until it ends.
          if (this.transactional) await commit;
        } else if (this.flushDue(now)) {
          void this.startFlush().catch(() => undefined); // writeBatch recorded the failure; the loop stops on its next turn
        }
        await this.flushes.room();
        if (now - this.state.lastStatsAt >= 1000) {
          this.state.published(now);
          this.gauges.publish(now);
        }
      }
      // fail() (a flush or a consumer error) also ends the while above: the loop must end with the
      // error, or whenAnyFails() resolves as if stopped and the process lives on, unready.
      if (this.state.fatal) throw this.state.fatal;
      if (next !== null) {
        const last = await next;
        next = null;
        if (this.state.fatal === null) this.processBatch(this.consumer.stillCurrent(last));
      }
    } finally {
      // Failing with a request in flight: let it finish (and drop it) before anyone disconnects.
      if (next !== null) await next.catch(() => undefined);
    }
  }

  private flushDue(now: number): boolean {
    const { flushIntervalMs, maxRowsPerInsert } = this.deps.config.aggregator;
    return (
      now - this.state.lastFlushAt >= flushIntervalMs ||
      this.pending.rows.length >= maxRowsPerInsert ||
      this.pending.raw.size >= maxRowsPerInsert
    );
  }

  private processBatch(batch: RecordBatch): void {
    let readings = 0;
    const ingestClock = this.deps.config.kafka.ingestClock;
    // Records come in runs of one partition: one lookup per run.
    let partition = -1;
    let processor: PartitionProcessor | undefined;
    for (let index = 0; index < batch.count; index++) {
      if (recordPartition(batch, index) !== partition) {
        partition = recordPartition(batch, index);
        processor = this.partitions.get(partition);
      }
      if (processor === undefined) continue;
      const value = recordText(batch, index);
      if (value === null) continue;
      const decoded = decodeMessage(value, recordTimestamp(batch, index), ingestClock);
      if (!decoded.ok) {
        this.deps.metrics.decodeErrors.inc({ ...this.labels, reason: decoded.reason });
        continue;
      }
      const offset = recordOffset(batch, index);
      readings += decoded.readings.length;
      if (this.deps.writesRawReadings) for (const reading of decoded.readings) collectRaw(this.pending, reading, partition, offset);
      feedRecord(processor, decoded, offset, this.output);
    }
    if (readings > 0) this.deps.metrics.readings.inc(this.labels, readings);
  }

  private onLate(reading: ReadingRecord, metric: string): void {
    const write = routeLate(this.late, reading, metric);
    if (write !== null) this.pending.late.push(write);
  }

  /**
   * Hands everything emitted so far to the flush queue without waiting: ClickHouse works on one
   * batch while this process reads the next. The promise resolves once this batch and every one
   * before it are durable, and rejects if any failed (writeBatch records that failure as fatal).
   * Insert order between batches does not matter: ReplacingMergeTree keeps the highest version.
   */
  private startFlush(): Promise<void> {
    this.state.flushed(this.now());
    const batch = this.pending;
    this.pending = emptyBatch(this.deps.sink);
    return this.flushes.enqueue(batch);
  }

  /** A commit at this point of the loop (see CommitCoordinator.take); never rejects. */
  private startCommit(): Promise<void> {
    this.state.committed(this.now());
    return this.commits.take();
  }

  private onConsumerError(error: PipelineError): void {
    if (error.retriable) {
      this.deps.logger.warn({ pipeline: this.name, err: error }, 'Kafka consumer error (librdkafka retries on its own)');
      return;
    }
    this.fail(error);
  }

  private fail(error: PipelineError): PipelineError {
    if (this.state.fail(error)) this.deps.logger.error({ pipeline: this.name, err: error }, 'pipeline failed');
    return error;
  }
}
