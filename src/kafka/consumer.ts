import kafkaJs from '@confluentinc/kafka-javascript';
import type { ConsumerGlobalConfig, KafkaConsumer, LibrdKafkaError, TopicPartition } from '@confluentinc/kafka-javascript';
import { PipelineError, errorMessage } from '../core/errors.ts';
import { withRetry, type RetryPolicy } from '../util/retry.ts';
import { brokerList, connectionProperties, type KafkaConnection } from './connection.ts';
import { recordBatch, recordPartition, selectRecords, type RecordBatch } from './record-batch.ts';

/**
 * A consumer-group member over librdkafka's raw consumer, as promises. Partitions are handed to
 * the application paused: `onAssigned` decides where each one starts (for example the offset of a
 * restored checkpoint) and the adapter seeks there before any message of it is delivered. Offsets
 * are committed only when the application says so (never automatically, unless `autoCommit`).
 *
 * A consume call runs in a worker thread that keeps collecting messages while a rebalance is
 * handled on the JS thread, so one batch can hold messages of a partition's previous assignment
 * (read at the old position) or messages fetched before the seek. Hence a batch delivers only
 * partitions that were ready, in the same assignment, when the call started; and a partition that
 * settled meanwhile is resumed only when the next call starts, so that none of its messages lands
 * in a batch that would drop them.
 */
const ERR_ASSIGN_PARTITIONS = -175;
const ERR_REVOKE_PARTITIONS = -174;
/** The patched binding's batch consume (deploy/native/patch-kafka-binding.ts): see record-batch.ts. */
type BatchConsume = (max: number, callback: (error: LibrdKafkaError | null, payloads: Buffer, meta: Float64Array) => void) => void;

/** librdkafka's "no offset committed yet". */
export const OFFSET_INVALID = -1001;

export class KafkaConsumerError extends PipelineError {
  constructor(code: string, message: string, context: Record<string, string | number>, cause?: unknown, retriable = true) {
    super(code, message, { retriable, context, cause });
    this.name = 'KafkaConsumerError';
  }
}

/** Restoring an assignment: retried until it succeeds or two minutes pass (callers may set their own budget). */
export const DEFAULT_RESTORE_RETRY: RetryPolicy = { maxAttempts: Number.POSITIVE_INFINITY, initialDelayMs: 200, maxDelayMs: 5000, maxElapsedMs: 120_000 };

export interface ConsumerOptions {
  readonly connection: KafkaConnection;
  readonly groupId: string;
  readonly clientId: string;
  readonly topic: string;
  readonly sessionTimeoutMs: number;
  readonly isolation: 'read_committed' | 'read_uncommitted';
  /** At-most-once only: librdkafka commits consumed offsets on its own, before the sink has them. */
  readonly autoCommit: boolean;
  /** Where each newly assigned partition starts: an offset, or null for the committed/earliest one. */
  readonly onAssigned: (
    partitions: readonly number[],
    committed: ReadonlyMap<number, number | null>,
    /** False once a newer rebalance superseded this assignment: its state must not be installed. */
    isCurrent: () => boolean,
  ) => Promise<ReadonlyMap<number, number>>;
  /** The partitions were taken away: drop their state (the next owner restores from the committed checkpoint). */
  readonly onRevoked: (partitions: readonly number[]) => void;
  readonly onError: (error: PipelineError) => void;
  /**
   * How long restoring an assignment (committed offsets, onAssigned — a checkpoint load from
   * ClickHouse — and the seeks) is retried while it stays current. Until it succeeds the partitions
   * stay paused, so giving up must fail the pipeline, not leave them paused for good.
   */
  readonly restoreRetry?: RetryPolicy;
  /** A restore attempt failed and will be tried again after delayMs. */
  readonly onRestoreRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * The librdkafka settings of the pipelines' consumers (without their rebalance handling): shared
 * with the aggregator benchmark's bare consumer, so that it reads as the pipelines do.
 */
export function consumerSettings(options: Pick<ConsumerOptions, 'connection' | 'groupId' | 'clientId' | 'isolation' | 'autoCommit' | 'sessionTimeoutMs'>): ConsumerGlobalConfig {
  return {
    ...connectionProperties(options.connection),
    'group.id': options.groupId,
    'client.id': options.clientId,
    'enable.auto.commit': options.autoCommit,
    'auto.commit.interval.ms': 1000,
    'enable.auto.offset.store': true,
    'isolation.level': options.isolation,
    'session.timeout.ms': options.sessionTimeoutMs,
    // A member learns of a rebalance at its next heartbeat, and until then processes readings of
    // partitions about to move, which their next owner reads again from the last checkpoint: with
    // 2 s between heartbeats a worker that formed its group alone did so for 14 % of a benchmark's
    // readings (decision 0022). A heartbeat is a small request; four a second cost nothing.
    'heartbeat.interval.ms': 250,
    'max.poll.interval.ms': 300_000,
    'partition.assignment.strategy': 'range',
    'fetch.min.bytes': 1,
    'fetch.wait.max.ms': 50,
    'queued.max.messages.kbytes': 16_384,
  };
}

export class ReadingsConsumer {
  private readonly consumer: KafkaConsumer;
  private readonly options: ConsumerOptions;
  /**
   * Partitions that are fetching from their settled start offset, each with the epoch in which it
   * became ready; messages of any other partition are not delivered.
   */
  private readonly ready = new Map<number, number>();
  /** Partitions sought to their start offset (with the generation that settled them), resumed by the next consume call. */
  private readonly settled = new Map<number, number>();
  private readyEpoch = 0;
  /** The partitions' epochs each delivered batch was read under (see stillCurrent). */
  private readonly batchEpochs = new WeakMap<RecordBatch, ReadonlyMap<number, number>>();
  private readonly consumeRaw: BatchConsume;
  private generation = 0;
  private consuming = false;

  constructor(options: ConsumerOptions) {
    this.options = options;
    const config: ConsumerGlobalConfig = {
      ...consumerSettings(options),
      'rebalance_cb': (error: LibrdKafkaError, assignment: TopicPartition[]) => this.onRebalance(error, assignment),
    };
    this.consumer = new kafkaJs.KafkaConsumer(config, { 'auto.offset.reset': 'earliest' });
    const consumeRaw = (this.consumer as KafkaConsumer & { consumeRaw?: BatchConsume }).consumeRaw;
    if (typeof consumeRaw !== 'function') {
      throw new KafkaConsumerError('KAFKA_BINDING', '@confluentinc/kafka-javascript has no batch consume (consumeRaw): run npm install, whose postinstall applies deploy/native/kafka-javascript-consume-raw.patch', { group: options.groupId }, undefined, false);
    }
    this.consumeRaw = consumeRaw.bind(this.consumer);
    this.consumer.on('event.error', (error) => {
      options.onError(new KafkaConsumerError('KAFKA_CONSUMER', `Kafka consumer error: ${error.message}`, { group: options.groupId }, error));
    });
  }

  connect(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      this.consumer.connect({ timeout: timeoutMs }, (error) => {
        if (error) {
          reject(new KafkaConsumerError('KAFKA_CONNECT', `consumer could not reach ${brokerList(this.options.connection)}: ${error.message}`, { group: this.options.groupId }, error));
          return;
        }
        this.consumer.subscribe([this.options.topic]);
        resolve();
      });
    });
  }

  /**
   * Up to `max` records of partitions ready since before this call; resolves with an empty batch
   * after the consume timeout. One call at a time: which records a batch may deliver depends on it.
   */
  consume(max: number): Promise<RecordBatch> {
    if (this.consuming) {
      return Promise.reject(new KafkaConsumerError('KAFKA_CONSUME', 'consume called while another consume call is in flight', { group: this.options.groupId }, undefined, false));
    }
    this.resumeSettled();
    const readyAtStart = new Map(this.ready);
    this.consuming = true;
    return new Promise((resolve, reject) => {
      this.consumeRaw(max, (error, payloads, meta) => {
        this.consuming = false;
        if (error) {
          reject(new KafkaConsumerError('KAFKA_CONSUME', `consume failed: ${error.message}`, { group: this.options.groupId }, error));
          return;
        }
        const delivered = this.deliverableOf(recordBatch(payloads, meta), readyAtStart);
        this.batchEpochs.set(delivered, readyAtStart);
        resolve(delivered);
      });
    });
  }

  /**
   * The records of a delivered batch that are still deliverable now. A batch read ahead (requested
   * before the previous one was processed) can wait while a rebalance takes partitions away, or
   * hands them back restored from a checkpoint: its records of those partitions belong to the old
   * assignment and must not be processed. Call it right before processing, with no await between.
   */
  stillCurrent(batch: RecordBatch): RecordBatch {
    const readyAtStart = this.batchEpochs.get(batch);
    if (readyAtStart === undefined) {
      if (batch.count === 0) return batch;
      throw new KafkaConsumerError('KAFKA_CONSUME', 'stillCurrent called with a batch this consumer did not deliver', { group: this.options.groupId }, undefined, false);
    }
    return this.deliverableOf(batch, readyAtStart);
  }

  /** The records of partitions deliverable under `readyAtStart` (the batch itself when all are). */
  private deliverableOf(batch: RecordBatch, readyAtStart: ReadonlyMap<number, number>): RecordBatch {
    return batch.count === 0 || this.allDeliverable(batch, readyAtStart) ? batch : selectRecords(batch, (partition) => this.deliverable(partition, readyAtStart));
  }

  /**
   * `ms` bounds the wait for a batch's first message only; the rest of the batch is what is ready
   * then. With the library's default every further message may wait `ms` too, so a steady stream
   * (each message within `ms` of the last) held a batch, and the flushes between batches, until it
   * was full: at the demo's rate windows reached ClickHouse 2 to 6 s after they closed, not within
   * aggregator.flushIntervalMs.
   */
  setConsumeTimeout(ms: number): void {
    this.consumer.setDefaultConsumeTimeout(ms);
    // The library has the setting but its type declarations do not name it.
    const controls = this.consumer as KafkaConsumer & Partial<{ setDefaultIsTimeoutOnlyForFirstMessage(only: boolean): void }>;
    if (typeof controls.setDefaultIsTimeoutOnlyForFirstMessage !== 'function') {
      throw new KafkaConsumerError('KAFKA_CONSUME', 'this @confluentinc/kafka-javascript has no setDefaultIsTimeoutOnlyForFirstMessage: a batch would wait until full', { group: this.options.groupId }, undefined, false);
    }
    controls.setDefaultIsTimeoutOnlyForFirstMessage(true);
  }

  /** Resumes the partitions settled since the last call: their messages go to batches that start from now on. */
  private resumeSettled(): void {
    if (this.settled.size === 0) return;
    const resumed: TopicPartition[] = [];
    for (const [partition, generation] of this.settled) {
      if (generation !== this.generation) continue; // superseded by a newer rebalance
      this.ready.set(partition, ++this.readyEpoch);
      resumed.push({ topic: this.options.topic, partition });
    }
    this.settled.clear();
    if (resumed.length > 0) this.consumer.resume(resumed);
  }

  /** Ready when the call started, and still in that same assignment now. */
  private deliverable(partition: number, readyAtStart: ReadonlyMap<number, number>): boolean {
    const epoch = readyAtStart.get(partition);
    return epoch !== undefined && this.ready.get(partition) === epoch;
  }

  private allDeliverable(batch: RecordBatch, readyAtStart: ReadonlyMap<number, number>): boolean {
    // librdkafka hands records over in runs of one partition: one check per run.
    let checked = -1;
    for (let index = 0; index < batch.count; index++) {
      const partition = recordPartition(batch, index);
      if (partition === checked) continue;
      if (!this.deliverable(partition, readyAtStart)) return false;
      checked = partition;
    }
    return true;
  }

  isReady(partition: number): boolean {
    return this.ready.has(partition);
  }

  readyPartitions(): number[] {
    return [...this.ready.keys()].sort((a, b) => a - b);
  }

  /** Commits `offset` (the next offset to read) for each partition; fails if this member was fenced. */
  commit(offsets: ReadonlyMap<number, number>): Promise<void> {
    const list = [...offsets].map(([partition, offset]) => ({ topic: this.options.topic, partition, offset }));
    if (list.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      try {
        this.consumer.commitSync(list);
        resolve();
      } catch (error) {
        reject(new KafkaConsumerError('KAFKA_COMMIT', `offset commit failed (group ${this.options.groupId}): ${errorMessage(error)}`, { group: this.options.groupId }, error));
      }
    });
  }

  committed(partitions: readonly number[], timeoutMs = 10_000): Promise<Map<number, number | null>> {
    return readCommittedOffsets(this.consumer, this.options.topic, partitions, timeoutMs).catch((error: LibrdKafkaError) => {
      throw new KafkaConsumerError('KAFKA_COMMITTED', `reading committed offsets failed: ${error.message}`, { group: this.options.groupId }, error);
    });
  }

  /** The high watermark of each assigned partition, from the last fetch (no request). */
  lag(positions: ReadonlyMap<number, number>): Map<number, number> {
    const lag = new Map<number, number>();
    for (const [partition, next] of positions) {
      try {
        const { highOffset } = this.consumer.getWatermarkOffsets(this.options.topic, partition);
        if (highOffset >= 0) lag.set(partition, Math.max(0, highOffset - next));
      } catch {
        // Offsets are not known until the first fetch of the partition: no lag to report yet.
      }
    }
    return lag;
  }

  /** The librdkafka consumer, for the transactional producer's sendOffsetsToTransaction. */
  raw(): KafkaConsumer {
    return this.consumer;
  }

  disconnect(): Promise<void> {
    return new Promise((resolve) => {
      this.ready.clear();
      this.settled.clear();
      this.consumer.disconnect(() => resolve());
    });
  }

  private onRebalance(error: LibrdKafkaError, assignment: TopicPartition[]): void {
    const partitions = assignment.filter((tp) => tp.topic === this.options.topic).map((tp) => tp.partition);
    if (error.code === ERR_ASSIGN_PARTITIONS) {
      const generation = ++this.generation;
      // The assignment replaces the previous one: every partition waits for its start offset again.
      this.ready.clear();
      this.settled.clear();
      this.consumer.assign(assignment);
      this.consumer.pause(assignment);
      void this.restoreAssignment(generation, partitions);
    } else if (error.code === ERR_REVOKE_PARTITIONS) {
      this.generation++;
      for (const partition of partitions) {
        this.ready.delete(partition);
        this.settled.delete(partition);
      }
      this.options.onRevoked(partitions);
      this.consumer.unassign();
    } else {
      this.options.onError(new KafkaConsumerError('KAFKA_REBALANCE', `rebalance error: ${error.message}`, { group: this.options.groupId }, error));
    }
  }

  /**
   * Retries a failed restore (ClickHouse down while a checkpoint loads, a seek timing out) within
   * the budget; a newer rebalance ends the attempts, as it restores on its own. Out of budget, the
   * error is fatal (not retriable): the partitions are paused, and nothing else would resume them.
   */
  private async restoreAssignment(generation: number, partitions: number[]): Promise<void> {
    const current = (): boolean => generation === this.generation;
    try {
      await withRetry(() => this.settleAssignment(generation, partitions), {
        policy: this.options.restoreRetry ?? DEFAULT_RESTORE_RETRY,
        operation: `restoring partitions ${partitions.join(',')} of group ${this.options.groupId}`,
        shouldRetry: (error) => current() && (error instanceof PipelineError ? error.retriable : true),
        onRetry: (error, attempt, delayMs) => this.options.onRestoreRetry?.(error, attempt, delayMs),
      });
    } catch (cause) {
      if (!current()) return; // superseded: the newer assignment restores these partitions afresh
      this.options.onError(new KafkaConsumerError('KAFKA_ASSIGN', `restoring assigned partitions failed: ${errorMessage(cause)}`, { group: this.options.groupId, partitions: partitions.join(',') }, cause, false));
    }
  }

  private async settleAssignment(generation: number, partitions: number[]): Promise<void> {
    const committed = await this.committed(partitions);
    const starts = await this.options.onAssigned(partitions, committed, () => generation === this.generation);
    if (generation !== this.generation) return; // a newer rebalance superseded this one
    for (const partition of partitions) {
      const offset = starts.get(partition);
      if (offset !== undefined) await this.seek(partition, offset);
      if (generation !== this.generation) return;
      this.settled.set(partition, generation);
    }
  }

  private seek(partition: number, offset: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.consumer.seek({ topic: this.options.topic, partition, offset }, 10_000, (error) => {
        if (error) {
          reject(new KafkaConsumerError('KAFKA_SEEK', `seek to ${offset} on partition ${partition} failed: ${error.message}`, { partition, offset }, error));
          return;
        }
        resolve();
      });
    });
  }
}

/**
 * The committed offset of each of `partitions` for the consumer's group (null: none committed).
 * Rejects with librdkafka's error as it is (its `code` says whether the coordinator is moving).
 */
export function readCommittedOffsets(consumer: KafkaConsumer, topic: string, partitions: readonly number[], timeoutMs: number): Promise<Map<number, number | null>> {
  return new Promise((resolve, reject) => {
    consumer.committed(
      partitions.map((partition) => ({ topic, partition })),
      timeoutMs,
      (error, result) => (error ? reject(error) : resolve(new Map(result.map((entry) => [entry.partition, entry.offset !== undefined && entry.offset >= 0 ? entry.offset : null])))),
    );
  });
}
