import kafkaJs from '@confluentinc/kafka-javascript';
import type { KafkaConsumer, LibrdKafkaError } from '@confluentinc/kafka-javascript';
import { PipelineError } from '../core/errors.ts';

/**
 * A transactional producer for the aggregator's writes to Kafka (the late topic): records and the
 * consumed offsets commit together in one transaction (exactly-once v2, KIP-447), so a crash
 * between them can neither lose the records nor write them twice, and a zombie instance whose
 * group generation is stale is fenced by the broker when it tries to commit.
 */
export class KafkaTransactionError extends PipelineError {
  constructor(operation: string, error: LibrdKafkaError | Error, context: Record<string, string | number>) {
    const librdkafka = error as LibrdKafkaError & { isFatal?: boolean; isRetriable?: boolean; isTxnRequiresAbort?: boolean };
    super('KAFKA_TRANSACTION', `Kafka transaction ${operation} failed: ${error.message}`, {
      retriable: Boolean(librdkafka.isRetriable),
      context: { operation, fatal: Boolean(librdkafka.isFatal), abortable: Boolean(librdkafka.isTxnRequiresAbort), ...context },
      cause: error,
    });
    this.name = 'KafkaTransactionError';
  }

  get fatal(): boolean {
    return this.context['fatal'] === true;
  }
}

export interface TransactionalProducerOptions {
  readonly brokers: readonly string[];
  readonly transactionalId: string;
  readonly clientId: string;
  readonly transactionTimeoutMs?: number;
}

type State = 'created' | 'ready' | 'in-transaction' | 'closed' | 'failed';

export class TransactionalProducer {
  private readonly producer: kafkaJs.Producer;
  private readonly options: TransactionalProducerOptions;
  private state: State = 'created';
  private pendingReports: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(options: TransactionalProducerOptions) {
    this.options = options;
    this.producer = new kafkaJs.Producer({
      'metadata.broker.list': options.brokers.join(','),
      'client.id': options.clientId,
      'transactional.id': options.transactionalId,
      'transaction.timeout.ms': options.transactionTimeoutMs ?? 60_000,
      'enable.idempotence': true,
      acks: 'all',
      'linger.ms': 5,
      'compression.type': 'lz4',
      dr_cb: true,
    } as never);
    this.producer.on('delivery-report', (error) => {
      const waiter = this.pendingReports.shift();
      if (!waiter) return;
      if (error) waiter.reject(new KafkaTransactionError('produce', error, { transactionalId: options.transactionalId }));
      else waiter.resolve();
    });
  }

  async connect(timeoutMs = 30_000): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.producer.connect({ timeout: timeoutMs }, (error) => (error ? reject(this.fail('connect', error)) : resolve()));
    });
    this.producer.setPollInterval(20);
    await this.call('initTransactions', (done) => this.producer.initTransactions(timeoutMs, done));
    this.state = 'ready';
  }

  get inTransaction(): boolean {
    return this.state === 'in-transaction';
  }

  /** Produces within the open transaction (opening one if needed); resolves on the delivery report. */
  async produce(topic: string, key: string, value: string): Promise<void> {
    await this.ensureTransaction();
    const delivered = new Promise<void>((resolve, reject) => this.pendingReports.push({ resolve, reject }));
    this.producer.produce(topic, null, Buffer.from(value), key);
    return delivered;
  }

  /** Commits the consumed offsets and every record produced since the transaction began, atomically. */
  async commit(consumer: KafkaConsumer, topic: string, offsets: ReadonlyMap<number, number>): Promise<void> {
    await this.ensureTransaction();
    const list = [...offsets].map(([partition, offset]) => ({ topic, partition, offset }));
    try {
      await this.call('sendOffsetsToTransaction', (done) => this.producer.sendOffsetsToTransaction(list, consumer, 30_000, done));
      await this.call('commitTransaction', (done) => this.producer.commitTransaction(30_000, done));
      this.state = 'ready';
    } catch (error) {
      await this.abortQuietly();
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.state === 'in-transaction') await this.abortQuietly();
    this.state = 'closed';
    await new Promise<void>((resolve) => this.producer.disconnect(() => resolve()));
  }

  private async ensureTransaction(): Promise<void> {
    if (this.state === 'in-transaction') return;
    if (this.state !== 'ready') {
      throw new PipelineError('KAFKA_TRANSACTION_STATE', `transactional producer is ${this.state}, not ready`, {
        context: { transactionalId: this.options.transactionalId },
      });
    }
    await this.call('beginTransaction', (done) => this.producer.beginTransaction(done));
    this.state = 'in-transaction';
  }

  private async abortQuietly(): Promise<void> {
    try {
      await this.call('abortTransaction', (done) => this.producer.abortTransaction(30_000, done));
      this.state = 'ready';
    } catch {
      // An abort that fails leaves a fatal state: the owner must re-create the producer.
      this.state = 'failed';
    }
  }

  private call(operation: string, run: (done: (error: LibrdKafkaError) => void) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      run((error) => (error ? reject(this.fail(operation, error)) : resolve()));
    });
  }

  private fail(operation: string, error: LibrdKafkaError | Error): KafkaTransactionError {
    const wrapped = new KafkaTransactionError(operation, error, { transactionalId: this.options.transactionalId });
    if (wrapped.fatal) this.state = 'failed';
    return wrapped;
  }
}
