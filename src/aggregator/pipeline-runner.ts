import type { Message } from '@confluentinc/kafka-javascript';
import type { Config, PipelineConfig } from '../config/schema.ts';
import { PipelineError, errorMessage } from '../core/errors.ts';
import { guaranteeProfile, type GuaranteeProfile } from '../core/guarantees.ts';
import type { GuaranteeSettings } from '../core/failure-analysis.ts';
import { guaranteeSettings } from '../config/guarantees.ts';
import type { PartitionProcessor, ProcessorOutput } from '../core/processor.ts';
import { decodeRecord, encodeReading, type ReadingRecord } from '../core/readings.ts';
import type { AggregateRow, EmittedAggregateRow, RawReadingRow } from '../core/rows.ts';
import type { CheckpointStore } from '../clickhouse/checkpoints.ts';
import type { AggregateSink } from '../clickhouse/sink.ts';
import { ReadingsConsumer } from '../kafka/consumer.ts';
import type { KafkaProducer } from '../kafka/producer.ts';
import { TransactionalProducer } from '../kafka/transactional-producer.ts';
import type { Logger } from '../util/log.ts';
import type { AggregatorMetrics } from './metrics.ts';
import { PartitionStates } from './partitions.ts';
import type { CrashPoints } from './crash-points.ts';

/**
 * One pipeline: its own consumer group over the readings topic, window state per owned partition,
 * and the commit protocol of its guarantee tier. The loop is sequential on purpose: consume a
 * batch, process it, and when due flush rows to ClickHouse, then checkpoint and commit, so that an
 * offset is never committed before everything it covers is durable.
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

type RunnerState = 'created' | 'running' | 'stopping' | 'stopped' | 'failed';

const CONSUME_BATCH = 5000;

export class PipelineRunner {
  private readonly deps: PipelineRunnerDeps;
  private readonly profile: GuaranteeProfile;
  /** The profile with the configuration's explicit consumer settings applied (validated at load). */
  private readonly settings: GuaranteeSettings;
  private readonly labels: { pipeline: string; tier: string };
  private readonly consumer: ReadingsConsumer;
  private readonly partitions: PartitionStates;
  private transactional: TransactionalProducer | null = null;
  private readonly now: () => number;
  private state: RunnerState = 'created';
  private fatal: PipelineError | null = null;
  private loopDone: Promise<void> = Promise.resolve();

  private pendingRows: AggregateRow[] = [];
  private pendingRaw: RawReadingRow[] = [];
  private pendingLate: Promise<void>[] = [];
  private inFlightFlush: Promise<void> = Promise.resolve();
  private lastFlushAt = 0;
  private lastCheckpointAt = 0;
  private lastStatsAt = 0;
  private readonly output: ProcessorOutput;
  private readonly lastSeenStats = new WeakMap<PartitionProcessor, { duplicates: number; lateDropped: number; lateToTopic: number; lateAbsorbed: number }>();

  constructor(deps: PipelineRunnerDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.profile = guaranteeProfile(deps.pipeline.guarantee);
    this.settings = guaranteeSettings(deps.config, deps.pipeline);
    this.labels = { pipeline: deps.pipeline.name, tier: this.profile.name };
    this.partitions = new PartitionStates(deps.pipeline, this.profile, deps.checkpoints, deps.logger);
    this.consumer = new ReadingsConsumer({
      brokers: deps.config.kafka.brokers,
      groupId: deps.pipeline.consumerGroup,
      clientId: `${deps.config.kafka.clientId}-${deps.pipeline.name}-${deps.instanceId}`,
      topic: deps.config.kafka.readingsTopic,
      sessionTimeoutMs: deps.config.aggregator.sessionTimeoutMs,
      isolation: this.settings.consumer.isolation,
      autoCommit: this.settings.consumer.autoCommit,
      onAssigned: (partitions, committed, isCurrent) => this.partitions.assign(partitions, committed, isCurrent),
      onRevoked: (partitions) => this.partitions.revoke(partitions),
      onError: (error) => this.onConsumerError(error),
    });
    this.output = {
      emitRow: (row) => this.onRow(row),
      emitLate: (reading, metric, offset) => this.onLate(reading, metric, offset),
    };
  }

  get name(): string {
    return this.deps.pipeline.name;
  }

  get tier(): string {
    return this.profile.name;
  }

  isHealthy(): boolean {
    return this.state === 'running' && this.fatal === null;
  }

  status(): Record<string, unknown> {
    return {
      pipeline: this.name,
      tier: this.tier,
      state: this.state,
      partitions: this.consumer.readyPartitions(),
      watermark: this.partitions.instanceWatermark(),
      error: this.fatal?.message ?? null,
    };
  }

  async start(): Promise<void> {
    if (this.state !== 'created') throw new PipelineError('RUNNER_STATE', `pipeline ${this.name} cannot start from ${this.state}`);
    if (this.profile.kafkaWrites.transactional && this.deps.pipeline.latePolicy.kind === 'late-topic') {
      this.transactional = new TransactionalProducer({
        brokers: this.deps.config.kafka.brokers,
        transactionalId: `tp-${this.deps.pipeline.consumerGroup}-${this.deps.instanceId}`,
        clientId: `${this.deps.config.kafka.clientId}-${this.name}-txn`,
      });
      await this.transactional.connect();
    }
    await this.consumer.connect();
    this.consumer.setConsumeTimeout(100);
    this.state = 'running';
    const start = this.now();
    this.lastFlushAt = start;
    this.lastCheckpointAt = start;
    this.loopDone = this.loop();
  }

  /** Resolves when the loop ends: after stop(), or with the error that stopped it. */
  get finished(): Promise<void> {
    return this.loopDone;
  }

  /** Graceful stop: finish the batch, flush, checkpoint and commit, leave the group. */
  async stop(): Promise<void> {
    if (this.state === 'running') this.state = 'stopping';
    await this.loopDone.catch(() => undefined);
    if (this.fatal === null) {
      await this.flushAll();
      await this.commit();
    }
    await this.consumer.disconnect();
    await this.transactional?.close();
    this.state = this.fatal ? 'failed' : 'stopped';
  }

  private async loop(): Promise<void> {
    while (this.state === 'running') {
      if (this.fatal) throw this.fatal;
      const messages = await this.consumer.consume(CONSUME_BATCH);
      this.processBatch(messages);
      const now = this.now();
      const flushDue =
        now - this.lastFlushAt >= this.deps.config.aggregator.flushIntervalMs ||
        this.pendingRows.length >= this.deps.config.aggregator.maxRowsPerInsert ||
        this.pendingRaw.length >= this.deps.config.aggregator.maxRowsPerInsert;
      if (flushDue) await this.startFlush();
      if (now - this.lastCheckpointAt >= this.deps.config.aggregator.checkpointIntervalMs) await this.commit();
      if (now - this.lastStatsAt >= 1000) this.publishGauges(now);
    }
  }

  private processBatch(messages: readonly Message[]): void {
    let readings = 0;
    for (const message of messages) {
      const processor = this.partitions.get(message.partition);
      if (!processor || message.value === null) continue;
      const decoded = decodeRecord(message.value);
      if (!decoded.ok) {
        this.deps.metrics.decodeErrors.inc({ ...this.labels, reason: decoded.reason });
        continue;
      }
      if (decoded.tick !== null) {
        processor.process(decoded.tick, message.offset, this.output);
        continue;
      }
      // Every reading of a record (a batch record carries several) sits at the record's offset.
      readings += decoded.readings.length;
      if (this.deps.writesRawReadings) for (const reading of decoded.readings) this.collectRaw(reading, message.partition, message.offset);
      processor.processReadings(decoded.readings, message.offset, this.output);
    }
    if (readings > 0) this.deps.metrics.readings.inc(this.labels, readings);
  }

  private collectRaw(reading: ReadingRecord, partition: number, offset: number): void {
    for (const metric in reading.metrics) {
      const value = reading.metrics[metric];
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      this.pendingRaw.push({
        tenant: reading.tenant,
        device: reading.device,
        readingId: reading.id,
        metric,
        value,
        eventTime: reading.eventTime,
        ingestTime: reading.ingestTime,
        partition,
        offset,
      });
    }
  }

  private onRow(row: AggregateRow): void {
    this.pendingRows.push(row);
  }

  private onLate(reading: ReadingRecord, metric: string, _offset: number): void {
    const value = reading.metrics[metric];
    const record = encodeReading({ ...reading, metrics: value === undefined ? {} : { [metric]: value } });
    const topic = this.deps.config.kafka.lateTopic;
    const write = this.transactional
      ? this.transactional.produce(topic, reading.device, record)
      : this.deps.lateProducer?.produce(topic, reading.device, record);
    if (!write) {
      this.fail(new PipelineError('LATE_TOPIC_UNAVAILABLE', `pipeline ${this.name} has no producer for the late topic`, { context: { pipeline: this.name } }));
      return;
    }
    this.pendingLate.push(write);
    this.deps.metrics.lateTopicWrites.inc(this.labels);
  }

  /**
   * Starts a flush without waiting for it, so that ClickHouse works on one batch while this
   * process reads the next; at most one flush is in flight (the next start waits for it). Insert
   * order does not matter: ReplacingMergeTree keeps the highest version whatever arrives first.
   */
  private async startFlush(): Promise<void> {
    await this.inFlightFlush;
    this.inFlightFlush = this.flush().catch((error: unknown) => {
      // flush() recorded the error as fatal; the loop stops on its next turn.
      this.deps.logger.debug({ pipeline: this.name, err: error }, 'background flush failed');
    });
  }

  /** Waits for the flush in flight, then flushes what is pending, all before anything is committed. */
  private async flushAll(): Promise<void> {
    await this.inFlightFlush;
    if (this.fatal) throw this.fatal;
    await this.flush();
  }

  /** Rows and raw readings into ClickHouse, and late readings acknowledged by Kafka. */
  private async flush(): Promise<void> {
    this.lastFlushAt = this.now();
    // emitted_at is stamped as the insert starts, so that it tells when the row became queryable
    // (give or take the insert itself), not when it waited for the flush.
    const emittedAt = this.now();
    const rows: EmittedAggregateRow[] = this.pendingRows.map((row) => ({ ...row, emittedAt }));
    const raw = this.pendingRaw;
    const late = this.pendingLate;
    this.pendingRows = [];
    this.pendingRaw = [];
    this.pendingLate = [];
    if (rows.length === 0 && raw.length === 0 && late.length === 0) return;
    this.deps.crashPoints?.reached('before-flush');
    const timer = this.deps.metrics.insertSeconds.startTimer(this.labels);
    try {
      if (raw.length > 0) await this.deps.sink.insertRawReadings(raw);
      this.deps.crashPoints?.reached('during-insert');
      if (rows.length > 0) await this.deps.sink.insertAggregates(this.deps.pipeline.table, rows);
      await Promise.all(late);
    } catch (error) {
      this.deps.metrics.insertErrors.inc(this.labels);
      throw this.fail(
        error instanceof PipelineError
          ? error
          : new PipelineError('SINK_FAILED', `pipeline ${this.name}: flush failed: ${errorMessage(error)}`, { cause: error }),
      );
    } finally {
      timer();
    }
    const insertedAt = this.now();
    this.deps.metrics.rowsInserted.inc(this.labels, rows.length);
    this.deps.metrics.rowsEmitted.inc(this.labels, rows.length);
    for (const row of rows) this.deps.metrics.e2eSeconds.observe(this.labels, Math.max(0, insertedAt - row.maxIngestTime) / 1000);
  }

  /**
   * Makes the current position durable under the tier's rules. Exactly-once: checkpoint every
   * partition's state at its position, then commit those positions (in the Kafka transaction when
   * late readings went to Kafka). At-least-once: commit the earliest offset open windows still need.
   * At-most-once: librdkafka already commits as it reads.
   */
  private async commit(): Promise<void> {
    this.lastCheckpointAt = this.now();
    if (this.settings.consumer.autoCommit) return;
    await this.flushAll();
    const timer = this.deps.metrics.checkpointSeconds.startTimer(this.labels);
    try {
      let positions: Map<number, number>;
      if (this.profile.state.checkpointed) {
        const snapshots = this.partitions.snapshots();
        let bytes = 0;
        for (const snapshot of snapshots) {
          await this.deps.checkpoints.save(this.name, snapshot.partition, snapshot.offset, snapshot.state);
          bytes += snapshot.state.length;
        }
        this.deps.metrics.checkpointBytes.set(this.labels, bytes);
        positions = new Map(snapshots.filter((snapshot) => this.partitions.stillOwns(snapshot)).map((snapshot) => [snapshot.partition, snapshot.offset]));
      } else {
        positions = this.partitions.commitPositions();
      }
      if (positions.size === 0) return;
      this.deps.crashPoints?.reached('after-insert-before-commit');
      if (this.transactional) {
        await this.transactional.commit(this.consumer.raw(), this.deps.config.kafka.readingsTopic, positions);
      } else {
        await this.consumer.commit(positions);
      }
      this.deps.metrics.checkpoints.inc(this.labels);
      this.deps.crashPoints?.reached('after-commit');
    } catch (error) {
      // A refused commit (a fenced zombie, a rebalance under way) is safe: the partition's next owner
      // resumes from the last committed checkpoint. A failed checkpoint write stops the service.
      if (error instanceof PipelineError && /^KAFKA_(COMMIT|TRANSACTION)/.test(error.code) && !this.isFatalTransactionError(error)) {
        this.deps.metrics.commitErrors.inc(this.labels);
        this.deps.logger.warn({ pipeline: this.name, err: error }, 'offset commit refused; the next owner resumes from the last committed checkpoint');
        return;
      }
      throw this.fail(error instanceof PipelineError ? error : new PipelineError('CHECKPOINT_FAILED', errorMessage(error), { cause: error }));
    } finally {
      timer();
    }
  }

  private isFatalTransactionError(error: PipelineError): boolean {
    return error.code === 'KAFKA_TRANSACTION' && error.context['fatal'] === true;
  }

  private publishGauges(now: number): void {
    this.lastStatsAt = now;
    const metrics = this.deps.metrics;
    let open = 0;
    let retained = 0;
    let bytes = 0;
    let delay = 0;
    let shifted = 0;
    let beyondCeiling = 0;
    const positions = new Map<number, number>();
    for (const [partition, processor] of this.partitions.entries()) {
      open += processor.openWindows();
      const clocks = processor.deviceClockCounts();
      shifted += clocks.shifted;
      beyondCeiling += clocks.beyondCeiling;
      retained += processor.retainedWindows();
      bytes += processor.estimatedStateBytes();
      delay = Math.max(delay, processor.currentDelayMs());
      this.countStatsSinceLastLook(processor);
      const next = processor.nextOffset();
      if (next !== null) positions.set(partition, next);
    }
    metrics.openWindows.set(this.labels, open);
    metrics.retainedWindows.set(this.labels, retained);
    metrics.stateBytes.set(this.labels, bytes);
    metrics.watermarkDelay.set(this.labels, delay);
    metrics.assignedPartitions.set(this.labels, this.partitions.size);
    metrics.clockShiftedDevices.set({ ...this.labels, state: 'shifted' }, shifted);
    metrics.clockShiftedDevices.set({ ...this.labels, state: 'beyond_ceiling' }, beyondCeiling);
    const watermark = this.partitions.instanceWatermark();
    if (watermark !== null) {
      metrics.watermark.set(this.labels, watermark);
      metrics.watermarkLag.set(this.labels, Math.max(0, now - watermark) / 1000);
    }
    for (const [partition, lag] of this.consumer.lag(positions)) {
      metrics.consumerLag.set({ ...this.labels, partition: String(partition) }, lag);
    }
  }

  /**
   * The processors count duplicates and late values themselves (their counts survive restarts in
   * the checkpoint); the metrics advance by what changed since the last look at each processor,
   * starting from whatever a restored processor already carried.
   */
  private countStatsSinceLastLook(processor: PartitionProcessor): void {
    const stats = processor.stats;
    const current = { duplicates: stats.duplicates, lateDropped: stats.lateDropped, lateToTopic: stats.lateToTopic, lateAbsorbed: stats.lateAbsorbed };
    const last = this.lastSeenStats.get(processor);
    this.lastSeenStats.set(processor, current);
    if (!last) return;
    const metrics = this.deps.metrics;
    metrics.duplicates.inc(this.labels, current.duplicates - last.duplicates);
    metrics.late.inc({ ...this.labels, outcome: 'dropped' }, current.lateDropped - last.lateDropped);
    metrics.late.inc({ ...this.labels, outcome: 'late_topic' }, current.lateToTopic - last.lateToTopic);
    metrics.late.inc({ ...this.labels, outcome: 'absorbed' }, current.lateAbsorbed - last.lateAbsorbed);
  }

  private onConsumerError(error: PipelineError): void {
    if (error.retriable) {
      this.deps.logger.warn({ pipeline: this.name, err: error }, 'Kafka consumer error (librdkafka retries on its own)');
      return;
    }
    this.fail(error);
  }

  private fail(error: PipelineError): PipelineError {
    if (!this.fatal) {
      this.fatal = error;
      this.state = 'failed';
      this.deps.logger.error({ pipeline: this.name, err: error }, 'pipeline failed');
    }
    return error;
  }
}

