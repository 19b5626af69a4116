import type { Message } from '@confluentinc/kafka-javascript';
import type { Config, PipelineConfig } from '../config/schema.ts';
import { PipelineError, errorMessage } from '../core/errors.ts';
import { guaranteeProfile, type GuaranteeProfile } from '../core/guarantees.ts';
import type { GuaranteeSettings } from '../core/failure-analysis.ts';
import { guaranteeSettings } from '../config/guarantees.ts';
import type { PartitionProcessor, ProcessorOutput } from '../core/processor.ts';
import { decodeRecord, encodeReading, type ReadingRecord } from '../core/readings.ts';
import type { AggregateRow, RawReadingRow } from '../core/rows.ts';
import { FlushQueue } from './flush-queue.ts';
import type { CheckpointStore } from '../clickhouse/checkpoints.ts';
import type { AggregateSink } from '../clickhouse/sink.ts';
import type { EncodedRows } from '../clickhouse/encode.ts';
import { DEFAULT_RESTORE_RETRY, ReadingsConsumer } from '../kafka/consumer.ts';
import type { KafkaProducer } from '../kafka/producer.ts';
import { KafkaTransactionAbortedError, TransactionalProducer } from '../kafka/transactional-producer.ts';
import type { Logger } from '../util/log.ts';
import type { AggregatorMetrics } from './metrics.ts';
import { PartitionStates, type PartitionPosition, type PartitionSnapshot } from './partitions.ts';
import type { CrashPoints } from './crash-points.ts';

/**
 * One pipeline: its own consumer group over the readings topic, window state per owned partition,
 * and the commit protocol of its guarantee tier. The loop consumes a batch, processes it, and when
 * due hands the rows emitted so far to a flush (FlushQueue: in order, one insert at a time) and
 * keeps processing while ClickHouse writes them. A commit is taken at a point of the loop (every
 * owned partition's state at its offset X) and completes in the background: every flush up to X
 * durable → all partitions' checkpoints saved in one insert → offsets X committed, so that an
 * offset is never committed before everything it covers is durable. At most one commit is in
 * flight; with Kafka transactions (late topic) the loop waits for it (see startCommit).
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
/**
 * Flushes queued or being written before the loop waits: one being inserted while the next batch
 * fills. More would only queue rows in memory when ClickHouse is the bottleneck.
 */
const MAX_UNFINISHED_FLUSHES = 2;

/** What one flush writes: rows and raw readings into ClickHouse, late readings acknowledged by Kafka. */
interface FlushBatch {
  readonly rows: AggregateRow[];
  /** Encoded as collected (see EncodedRows): bytes wait for the insert, not objects. */
  readonly raw: EncodedRows<RawReadingRow>;
  /** Each late write, handled as it is made: resolves with its failure (already passed to fail()) or null. */
  readonly late: Promise<PipelineError | null>[];
}

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

  private pending: FlushBatch;
  private readonly flushes: FlushQueue<FlushBatch>;
  /** The commit completing in the background, if any (at most one). */
  private inFlightCommit: Promise<void> | null = null;
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
      // Restoring reads the checkpoint from ClickHouse: it gets the same budget as an insert.
      restoreRetry: { ...DEFAULT_RESTORE_RETRY, maxElapsedMs: deps.config.clickhouse.insertMaxElapsedMs },
      onRestoreRetry: (error, attempt, delayMs) => {
        this.deps.metrics.restoreRetries.inc(this.labels);
        this.deps.logger.warn({ pipeline: this.name, err: error, attempt, delayMs }, 'restoring assigned partitions failed; retrying');
      },
    });
    this.flushes = new FlushQueue((batch) => this.flush(batch), MAX_UNFINISHED_FLUSHES);
    this.pending = this.emptyBatch();
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

  /** Graceful stop: finish the batch and the commit in flight, flush, checkpoint and commit, leave the group. */
  async stop(): Promise<void> {
    if (this.state === 'running') this.state = 'stopping';
    await this.loopDone.catch(() => undefined);
    await this.inFlightCommit;
    if (this.fatal === null) {
      if (this.settings.consumer.autoCommit) await this.startFlush().catch(() => undefined);
      else await this.startCommit();
    }
    await this.flushes.settled();
    await this.consumer.disconnect();
    await this.transactional?.close();
    this.state = this.fatal ? 'failed' : 'stopped';
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
    let next: Promise<Message[]> | null = null;
    try {
      while (this.state === 'running') {
        if (this.fatal) throw this.fatal;
        const batch = await (next ?? this.consumer.consume(CONSUME_BATCH));
        next = this.state === 'running' ? this.consumer.consume(CONSUME_BATCH) : null;
        this.processBatch(this.consumer.stillCurrent(batch));
        const now = this.now();
        const commitDue =
          !this.settings.consumer.autoCommit &&
          this.inFlightCommit === null &&
          now - this.lastCheckpointAt >= this.deps.config.aggregator.checkpointIntervalMs;
        if (commitDue) {
          const commit = this.startCommit();
          // A late reading produced during commitTransaction would join the transaction being
          // committed (or be refused): with Kafka transactions nothing is processed until it ends.
          if (this.transactional) await commit;
        } else if (this.flushDue(now)) {
          void this.startFlush().catch(() => undefined); // flush() recorded the failure; the loop stops on its next turn
        }
        await this.flushes.room();
        if (now - this.lastStatsAt >= 1000) this.publishGauges(now);
      }
      // fail() (a flush or a consumer error) also ends the while above: the loop must end with the
      // error, or whenAnyFails() resolves as if stopped and the process lives on, unready.
      if (this.fatal) throw this.fatal;
      if (next !== null) {
        const last = await next;
        next = null;
        if (this.fatal === null) this.processBatch(this.consumer.stillCurrent(last));
      }
    } finally {
      // Failing with a request in flight: let it finish (and drop it) before anyone disconnects.
      if (next !== null) await next.catch(() => undefined);
    }
  }

  private emptyBatch(): FlushBatch {
    return { rows: [], raw: this.deps.sink.rawReadingsBuffer(), late: [] };
  }

  private flushDue(now: number): boolean {
    const { flushIntervalMs, maxRowsPerInsert } = this.deps.config.aggregator;
    return (
      now - this.lastFlushAt >= flushIntervalMs ||
      this.pending.rows.length >= maxRowsPerInsert ||
      this.pending.raw.size >= maxRowsPerInsert
    );
  }

  private processBatch(messages: readonly Message[]): void {
    let readings = 0;
    const brokerClock = this.deps.config.kafka.ingestClock === 'broker';
    for (const message of messages) {
      const processor = this.partitions.get(message.partition);
      if (!processor || message.value === null) continue;
      // The broker's append time, stored with the record: the same on every replay (decision 0012).
      const decoded = decodeRecord(message.value, brokerClock ? message.timestamp : undefined);
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
      this.pending.raw.push({
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
    this.pending.rows.push(row);
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
    // Handled now, not when the flush awaits it: a write can fail long before (a producer being
    // re-created refuses at once), and a rejection nobody handles yet ends the process without fail().
    this.pending.late.push(
      write.then(
        () => null,
        (error: unknown) => this.fail(error instanceof PipelineError ? error : new PipelineError('LATE_TOPIC_FAILED', `pipeline ${this.name}: late write failed: ${errorMessage(error)}`, { cause: error })),
      ),
    );
    this.deps.metrics.lateTopicWrites.inc(this.labels);
  }

  /**
   * Hands everything emitted so far to the flush queue without waiting: ClickHouse works on one
   * batch while this process reads the next. The promise resolves once this batch and every one
   * before it are durable, and rejects if any failed (flush() records that failure as fatal).
   * Insert order between batches does not matter: ReplacingMergeTree keeps the highest version.
   */
  private startFlush(): Promise<void> {
    this.lastFlushAt = this.now();
    const batch = this.pending;
    this.pending = this.emptyBatch();
    return this.flushes.enqueue(batch);
  }

  /** Rows and raw readings into ClickHouse, and late readings acknowledged by Kafka. */
  private async flush(batch: FlushBatch): Promise<void> {
    const { rows, raw, late } = batch;
    if (rows.length === 0 && raw.size === 0 && late.length === 0) return;
    if (this.fatal) throw this.fatal;
    // emitted_at is stamped as the insert starts, so that it tells when the row became queryable
    // (give or take the insert itself), not when it waited for the flush.
    const emittedAt = this.now();
    this.deps.crashPoints?.reached('before-flush');
    const timer = this.deps.metrics.insertSeconds.startTimer(this.labels);
    try {
      // Encoded straight to bytes with the flush's emittedAt (no copy of each row to add it).
      const encoded = this.deps.sink.aggregateRowsBuffer(emittedAt);
      for (const row of rows) encoded.push(row);
      if (raw.size > 0) await this.deps.sink.insertRawReadings(raw);
      this.deps.crashPoints?.reached('during-insert');
      if (encoded.size > 0) await this.deps.sink.insertAggregates(this.deps.pipeline.table, encoded);
      const lateFailure = (await Promise.all(late)).find((failure) => failure !== null);
      if (lateFailure) throw lateFailure;
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
   * Takes a commit at this point of the loop, X: each owned partition's position (exactly-once:
   * its state snapshot at that offset; at-least-once: the earliest offset its open windows still
   * need), and hands the rows emitted up to X to a flush. The rest completes in the background
   * (completeCommit) while the loop goes on; the returned promise never rejects (failures are
   * recorded as fatal). At-most-once never gets here: librdkafka commits as it reads.
   */
  private startCommit(): Promise<void> {
    this.lastCheckpointAt = this.now();
    const durable = this.startFlush();
    const checkpointed = this.profile.state.checkpointed;
    const positions: readonly PartitionPosition[] = checkpointed ? this.partitions.snapshots() : this.partitions.commitPositions();
    const commit = this.completeCommit(durable, positions, checkpointed).finally(() => {
      this.inFlightCommit = null;
    });
    this.inFlightCommit = commit;
    return commit;
  }

  /**
   * Flushes up to X durable → checkpoints saved (one insert for all partitions) → offsets X
   * committed (in the Kafka transaction when late readings went to Kafka). A partition revoked
   * meanwhile is left out of both: its next owner resumes from the offset committed before.
   */
  private async completeCommit(durable: Promise<void>, positions: readonly PartitionPosition[], checkpointed: boolean): Promise<void> {
    try {
      await durable;
    } catch {
      return; // a flush up to X failed and stopped the pipeline: nothing it covers may be committed
    }
    if (this.fatal) return;
    const timer = this.deps.metrics.checkpointSeconds.startTimer(this.labels);
    try {
      if (checkpointed) {
        const snapshots = (positions as readonly PartitionSnapshot[]).filter((snapshot) => this.partitions.stillOwns(snapshot));
        await this.deps.checkpoints.saveAll(this.name, snapshots);
        let bytes = 0;
        for (const snapshot of snapshots) bytes += snapshot.state.length;
        this.deps.metrics.checkpointBytes.set(this.labels, bytes);
      }
      // No await between this ownership check and the plain commit (commitSync runs in the call), so
      // no rebalance slips in between; a transactional commit sends the group's generation along,
      // and the broker refuses it if a rebalance did.
      const owned = new Map(positions.filter((position) => this.partitions.stillOwns(position)).map((position) => [position.partition, position.offset]));
      if (owned.size === 0) return;
      this.deps.crashPoints?.reached('after-insert-before-commit');
      if (this.transactional) {
        if (this.transactional.recordsInTransaction > 0) this.deps.crashPoints?.reached('in-late-transaction');
        await this.transactional.commit(this.consumer.raw(), this.deps.config.kafka.readingsTopic, owned);
      } else {
        await this.consumer.commit(owned);
      }
      this.deps.metrics.checkpoints.inc(this.labels);
      this.deps.crashPoints?.reached('after-commit');
    } catch (error) {
      if (this.isHarmlessRefusal(error, positions)) {
        this.deps.metrics.commitErrors.inc(this.labels);
        this.deps.logger.warn({ pipeline: this.name, err: error }, 'offset commit refused; the next owner resumes from the last committed checkpoint');
        return;
      }
      this.fail(error instanceof PipelineError ? error : new PipelineError('CHECKPOINT_FAILED', errorMessage(error), { cause: error }));
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
      return error.records === 0 || !positions.some((position) => this.partitions.stillOwns(position));
    }
    return false;
  }

  private publishGauges(now: number): void {
    this.lastStatsAt = now;
    const metrics = this.deps.metrics;
    let open = 0;
    let retained = 0;
    let bytes = 0;
    let delay = 0;
    let behind = 0;
    let ahead = 0;
    let beyondCeiling = 0;
    const positions = new Map<number, number>();
    for (const [partition, processor] of this.partitions.entries()) {
      open += processor.openWindows();
      const clocks = processor.deviceClockCounts();
      behind += clocks.behind;
      ahead += clocks.ahead;
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
    metrics.clockShiftedDevices.set({ ...this.labels, state: 'behind' }, behind);
    metrics.clockShiftedDevices.set({ ...this.labels, state: 'ahead' }, ahead);
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

