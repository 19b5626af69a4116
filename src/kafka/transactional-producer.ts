import kafkaJs from '@confluentinc/kafka-javascript';
import type { KafkaConsumer } from '@confluentinc/kafka-javascript';
import { RetriesExhaustedError, withRetry, type RetryPolicy } from '../util/retry.ts';
import type { ProducerConfig } from './producer-config.ts';
import { connectionProperties, type KafkaConnection } from './connection.ts';
import { TransactionState, type TransactionPhase } from './transaction-state.ts';
import { KafkaTransactionAbortedError, KafkaTransactionError, type KafkaErrorLike, type TransactionErrorKind } from './transaction-errors.ts';

export { KafkaTransactionAbortedError, KafkaTransactionError } from './transaction-errors.ts';

/**
 * A transactional producer for the aggregator's writes to Kafka (the late topic): records and the
 * consumed offsets commit together in one transaction (exactly-once v2, KIP-447), so a crash
 * between them can neither lose the records nor write them twice, and a zombie instance whose
 * group generation is stale is fenced by the broker when it tries to commit.
 *
 * Its lifecycle is TransactionState (transaction-state.ts); this adapter only drives it. Records
 * wait for the one begin in progress instead of each starting their own; delivery reports find
 * their record by the opaque id handed to librdkafka (librdkafka orders reports within a
 * partition only); failures are classified by librdkafka's error code (transaction-errors.ts).
 */
type Done = (error: KafkaErrorLike | null | undefined) => void;

/** The part of librdkafka's producer used here: the seam a unit test fills with a fake. */
export interface TransactionalClient {
  connect(options: { timeout: number }, done: Done): unknown;
  setPollInterval(intervalMs: number): unknown;
  on(event: 'delivery-report', listener: (error: KafkaErrorLike | null | undefined, report: { opaque?: unknown; topic: string; partition: number }) => void): unknown;
  initTransactions(timeoutMs: number, done: Done): void;
  beginTransaction(done: Done): void;
  produce(topic: string, partition: number | null, value: Buffer, key: string, timestamp: number | null, opaque: unknown): unknown;
  sendOffsetsToTransaction(offsets: { topic: string; partition: number; offset: number }[], consumer: KafkaConsumer, timeoutMs: number, done: Done): void;
  commitTransaction(timeoutMs: number, done: Done): void;
  abortTransaction(timeoutMs: number, done: Done): void;
  flush(timeoutMs: number, done: Done): unknown;
  disconnect(done: () => void): unknown;
}

export interface TransactionalProducerOptions {
  readonly connection: KafkaConnection;
  readonly transactionalId: string;
  readonly clientId: string;
  readonly transactionTimeoutMs?: number;
  /** Builds the librdkafka client from its configuration; a test passes a fake. */
  readonly client?: (config: ProducerConfig) => TransactionalClient;
  /** How a retriable sendOffsets/commit/abort is repeated before the transaction is given up. */
  readonly retry?: RetryPolicy;
}

const OPERATION_TIMEOUT_MS = 30_000;
const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 1000, maxElapsedMs: 60_000 };

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class TransactionalProducer {
  private readonly client: TransactionalClient;
  private readonly options: TransactionalProducerOptions;
  private readonly context: Record<string, string>;
  private readonly state: TransactionState;
  private readonly waiters = new Map<number, Waiter>();
  private nextOpaque = 1;
  /** The begin in progress: every record and commit that needs a transaction waits for this one. */
  private beginning: Promise<void> | null = null;

  constructor(options: TransactionalProducerOptions) {
    this.options = options;
    this.context = { transactionalId: options.transactionalId };
    this.state = new TransactionState(this.context);
    const config: ProducerConfig = {
      ...connectionProperties(options.connection),
      'client.id': options.clientId,
      'transactional.id': options.transactionalId,
      'transaction.timeout.ms': options.transactionTimeoutMs ?? 60_000,
      'enable.idempotence': true,
      acks: -1, // all in-sync replicas
      'linger.ms': 5,
      'compression.type': 'lz4',
      dr_cb: true,
    };
    this.client = options.client ? options.client(config) : (new kafkaJs.Producer(config) as unknown as TransactionalClient);
    this.client.on('delivery-report', (error, report) => this.onDeliveryReport(error, report));
  }

  get phase(): TransactionPhase {
    return this.state.phase;
  }

  /** Records produced in the open transaction (what an abort now would take back). */
  get recordsInTransaction(): number {
    return this.state.records;
  }

  async connect(timeoutMs = 30_000): Promise<void> {
    this.state.apply('init');
    try {
      await this.call('connect', (done) => this.client.connect({ timeout: timeoutMs }, done));
      this.client.setPollInterval(20);
      await this.call('initTransactions', (done) => this.client.initTransactions(timeoutMs, done));
    } catch (error) {
      throw this.toFatal(error, 'connect');
    }
    this.state.apply('initialized');
  }

  /**
   * Produces within the open transaction (opening one if none is); resolves on the record's
   * delivery report. Never throws: every failure is a rejection.
   */
  produce(topic: string, key: string, value: string): Promise<void> {
    const phase = this.state.phase;
    if (phase === 'idle' || phase === 'beginning') return this.begin().then(() => this.send(topic, key, value));
    return this.send(topic, key, value);
  }

  /**
   * Commits the consumed offsets and every record produced since the transaction began,
   * atomically. Rejects with KafkaTransactionAbortedError when the transaction was aborted
   * instead (the producer is usable again; its records are gone), or with a fatal error.
   */
  async commit(consumer: KafkaConsumer, topic: string, offsets: ReadonlyMap<number, number>): Promise<void> {
    if (this.state.phase !== 'open') await this.begin();
    this.state.apply('commit');
    const records = this.state.records;
    const list = [...offsets].map(([partition, offset]) => ({ topic, partition, offset }));
    try {
      if (this.state.failedRecords > 0) {
        throw new KafkaTransactionError('commit', { message: `${this.state.failedRecords} record(s) of the transaction failed` }, this.context, 'abortable');
      }
      await this.retrying('sendOffsetsToTransaction', (done) => this.client.sendOffsetsToTransaction(list, consumer, OPERATION_TIMEOUT_MS, done));
      await this.retrying('commitTransaction', (done) => this.client.commitTransaction(OPERATION_TIMEOUT_MS, done));
    } catch (error) {
      const failure = asTransactionError(error, 'commit', this.context);
      if (failure.kind === 'fatal') throw this.toFatal(failure, 'commit');
      await this.abort();
      throw new KafkaTransactionAbortedError(failure, records, this.context);
    }
    this.state.apply('committed');
  }

  /** Aborts an open transaction (if any), then disconnects. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.state.phase === 'closed') return;
    if (this.beginning) await this.beginning.catch(() => undefined);
    if (this.state.phase === 'open') await this.abort().catch(() => undefined);
    this.state.apply('close');
    this.failWaiters(new KafkaTransactionError('close', { message: 'producer closed before the delivery report' }, this.context, 'abortable'));
    await new Promise<void>((resolve) => {
      try {
        this.client.disconnect(() => resolve());
      } catch {
        resolve(); // never connected: nothing to release
      }
    });
  }

  private begin(): Promise<void> {
    if (this.beginning) return this.beginning;
    try {
      this.state.apply('begin');
    } catch (error) {
      return Promise.reject(error);
    }
    this.beginning = this.call('beginTransaction', (done) => this.client.beginTransaction(done)).then(
      () => {
        this.beginning = null;
        this.state.apply('begun');
      },
      (error: unknown) => {
        this.beginning = null;
        // librdkafka refused to begin although our state says it may: we no longer agree with it.
        throw this.toFatal(error, 'beginTransaction');
      },
    );
    return this.beginning;
  }

  private send(topic: string, key: string, value: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.state.apply('record'); // throws (→ rejects) unless a transaction is open
      const opaque = this.nextOpaque++;
      this.waiters.set(opaque, { resolve, reject });
      try {
        this.client.produce(topic, null, Buffer.from(value), key, null, opaque);
      } catch (error) {
        this.waiters.delete(opaque);
        this.state.apply('recordFailed');
        reject(new KafkaTransactionError('produce', error as KafkaErrorLike, { ...this.context, topic }));
      }
    });
  }

  private onDeliveryReport(error: KafkaErrorLike | null | undefined, report: { opaque?: unknown; topic: string; partition: number }): void {
    const opaque = report?.opaque;
    const waiter = typeof opaque === 'number' ? this.waiters.get(opaque) : undefined;
    if (waiter === undefined) return; // already failed by an abort or close
    this.waiters.delete(opaque as number);
    if (!error) {
      waiter.resolve();
      return;
    }
    if (this.state.can('recordFailed')) this.state.apply('recordFailed');
    waiter.reject(new KafkaTransactionError('produce', error, { ...this.context, topic: report.topic, partition: report.partition }));
  }

  /**
   * Aborts the transaction; a failed abort leaves librdkafka in a state only a new producer clears.
   * The transaction's records are delivered first: Kafka 4 refuses an abort sent while its produce
   * requests are in flight (INVALID_TXN_STATE) — here 2 of 30 aborts sent right after producing
   * failed, 0 of 30 after a flush (docs/decisions/0023-flush-before-abort.md). What a flush that
   * times out leaves in flight, the abort purges.
   */
  private async abort(): Promise<void> {
    this.state.apply('abort');
    const flushFailure = await this.call('flush', (done) => this.client.flush(OPERATION_TIMEOUT_MS, done)).then(
      () => null,
      (error: unknown) => error as KafkaTransactionError,
    );
    try {
      await this.retrying('abortTransaction', (done) => this.client.abortTransaction(OPERATION_TIMEOUT_MS, done));
    } catch (error) {
      throw this.toFatal(error, 'abortTransaction', flushFailure ? { flushBefore: flushFailure.message } : {});
    }
    this.state.apply('aborted');
    // librdkafka purges the aborted records; any report not seen yet will not come through here.
    this.failWaiters(new KafkaTransactionError('produce', { message: 'transaction aborted before the delivery report' }, this.context, 'abortable'));
  }

  private async retrying(operation: string, run: (done: Done) => void): Promise<void> {
    await withRetry(() => this.call(operation, run), {
      policy: this.options.retry ?? DEFAULT_RETRY,
      operation: `${operation} (${this.options.transactionalId})`,
      shouldRetry: (error) => error instanceof KafkaTransactionError && error.kind === 'retriable',
    });
  }

  private call(operation: string, run: (done: Done) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        run((error) => (error ? reject(new KafkaTransactionError(operation, error, this.context)) : resolve()));
      } catch (error) {
        reject(new KafkaTransactionError(operation, error as KafkaErrorLike, this.context));
      }
    });
  }

  /** The producer is finished: every record waiting fails, and so does every later call. */
  private toFatal(error: unknown, operation: string, context: Record<string, string> = {}): KafkaTransactionError {
    const cause = asTransactionError(error, operation, this.context);
    const fatal = cause.kind === 'fatal' && Object.keys(context).length === 0 ? cause : withKind(cause, 'fatal', { ...this.context, ...context });
    if (this.state.can('fail')) this.state.apply('fail');
    this.failWaiters(fatal);
    return fatal;
  }

  private failWaiters(error: Error): void {
    const waiters = [...this.waiters.values()];
    this.waiters.clear();
    for (const waiter of waiters) waiter.reject(error);
  }
}

/** Retries that ran out leave the last error's kind behind: the transaction is given up (aborted). */
function asTransactionError(error: unknown, operation: string, context: Record<string, string>): KafkaTransactionError {
  if (error instanceof KafkaTransactionError) return error;
  if (error instanceof RetriesExhaustedError && error.cause instanceof KafkaTransactionError) return withKind(error.cause, 'abortable', context);
  return new KafkaTransactionError(operation, error as KafkaErrorLike, context);
}

function withKind(error: KafkaTransactionError, kind: TransactionErrorKind, context: Record<string, string>): KafkaTransactionError {
  return new KafkaTransactionError(String(error.context['operation']), error.cause as KafkaErrorLike, context, kind);
}
