import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import kafkaJs from '@confluentinc/kafka-javascript';
import type { KafkaConsumer } from '@confluentinc/kafka-javascript';
import { TransactionalProducer } from '../../src/kafka/transactional-producer.ts';
import type { KafkaErrorLike } from '../../src/kafka/transaction-errors.ts';
import { PipelineError } from '../../src/core/errors.ts';

/**
 * The transactional producer over a fake librdkafka client that behaves as librdkafka does where
 * it matters here: one transaction at a time (a second begin is refused with ERR__STATE), records
 * only inside one, delivery reports carrying the opaque given to produce() and arriving in any
 * order across partitions, an abort refused while records of the transaction wait for their
 * reports (Kafka 4's INVALID_TXN_STATE), flush() delivering them, and failures scripted per call.
 */
const ERR = kafkaJs.CODES.ERRORS;
type Done = (error: KafkaErrorLike | null | undefined) => void;
type TxnCall = 'beginTransaction' | 'sendOffsetsToTransaction' | 'commitTransaction' | 'abortTransaction' | 'flush';

class FakeClient extends EventEmitter {
  readonly calls: string[] = [];
  readonly produced: { topic: string; key: string; value: string; partition: number; opaque: unknown }[] = [];
  /** Errors the next calls of each operation fail with, in order. */
  readonly failures: Partial<Record<TxnCall, KafkaErrorLike[]>> = {};
  /** Errors produce() throws synchronously, in order (undefined: accept). */
  readonly produceThrows: (KafkaErrorLike | undefined)[] = [];
  open = false;
  private readonly reported = new Set<number>();

  connect(_options: unknown, done: Done): void {
    setImmediate(() => done(null));
  }
  setPollInterval(): void {}
  initTransactions(_timeoutMs: number, done: Done): void {
    setImmediate(() => done(null));
  }
  beginTransaction(done: Done): void {
    this.calls.push('beginTransaction');
    const scripted = this.failures.beginTransaction?.shift();
    // librdkafka refuses a second begin at once: one transaction at a time.
    const refused = scripted ?? (this.open ? { code: ERR.ERR__STATE, message: 'Transaction already in progress' } : undefined);
    if (!refused) this.open = true;
    setImmediate(() => done(refused ?? null));
  }
  produce(topic: string, _partition: number | null, value: Buffer, key: string, _timestamp?: number | null, opaque?: unknown): void {
    const thrown = this.produceThrows.shift();
    if (thrown) throw Object.assign(new Error(thrown.message ?? 'refused'), thrown);
    if (!this.open) throw Object.assign(new Error('not in a transaction'), { code: ERR.ERR__STATE });
    // Keyed records land on different partitions; reports of different partitions come in any order.
    this.produced.push({ topic, key, value: value.toString(), partition: this.produced.length % 4, opaque });
  }
  sendOffsetsToTransaction(_offsets: unknown, _consumer: unknown, _timeoutMs: number, done: Done): void {
    this.settle('sendOffsetsToTransaction', done);
  }
  commitTransaction(_timeoutMs: number, done: Done): void {
    this.settle('commitTransaction', done, () => (this.open = false));
  }
  abortTransaction(timeoutMs: number, done: Done): void {
    if (this.produced.some((_, index) => !this.reported.has(index)) && !this.failures.abortTransaction?.length) {
      this.failures.abortTransaction = [{ code: ERR.ERR_INVALID_TXN_STATE, message: 'Failed to end transaction: Broker: Producer attempted a transactional operation in an invalid state' }];
    }
    this.settle('abortTransaction', done, () => (this.open = false));
  }
  flush(_timeoutMs: number, done: Done): void {
    if (!this.failures.flush?.length) this.produced.forEach((_, index) => this.reported.has(index) || this.report(index));
    this.settle('flush', done);
  }
  disconnect(done: () => void): void {
    setImmediate(done);
  }

  /** Sends the delivery report of the index-th record produced. */
  report(index: number, error?: KafkaErrorLike): void {
    const record = this.produced[index]!;
    this.reported.add(index);
    const failure = error ? Object.assign(new Error(error.message ?? 'failed'), error) : null;
    this.emit('delivery-report', failure, { topic: record.topic, partition: record.partition, offset: index, opaque: record.opaque });
  }

  private settle(call: TxnCall, done: Done, onSuccess?: () => void): void {
    this.calls.push(call);
    const failure = this.failures[call]?.shift();
    if (!failure) onSuccess?.();
    setImmediate(() => done(failure ?? null));
  }
}

function producerOver(fake: FakeClient): TransactionalProducer {
  return new TransactionalProducer({ connection: { brokers: ['127.0.0.1:1'], security: { protocol: 'plaintext', mechanism: 'SCRAM-SHA-512', username: '', password: '', caFile: '' } }, transactionalId: 'tp-test', clientId: 'test', client: () => fake });
}

const consumer = {} as KafkaConsumer;
const offsets = new Map([[0, 10]]);

/** Settles within `ms` or tells that it did not: a bound on waiting, not a synchronisation. */
function within<T>(promise: Promise<T>, ms = 500): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms).unref())]);
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 200 && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(condition(), 'condition never held');
}

test('records produced in one tick share ONE transaction (begin is not raced)', async () => {
  const fake = new FakeClient();
  const producer = producerOver(fake);
  await producer.connect();
  const writes = [producer.produce('late', 'd1', 'a'), producer.produce('late', 'd2', 'b'), producer.produce('late', 'd3', 'c')];
  await waitFor(() => fake.produced.length === 3);
  fake.produced.forEach((_record, index) => fake.report(index));
  const outcomes = await Promise.allSettled(writes);
  assert.deepEqual(outcomes.map((outcome) => outcome.status), ['fulfilled', 'fulfilled', 'fulfilled']);
  assert.equal(fake.calls.filter((call) => call === 'beginTransaction').length, 1, 'one beginTransaction for the three records');
  await producer.commit(consumer, 'readings', offsets);
  assert.deepEqual(fake.calls, ['beginTransaction', 'sendOffsetsToTransaction', 'commitTransaction']);
});

test('delivery reports are matched by opaque id, not by arrival order across partitions', async () => {
  const fake = new FakeClient();
  const producer = producerOver(fake);
  await producer.connect();
  const first = producer.produce('late', 'd1', 'first');
  const second = producer.produce('late', 'd2', 'second');
  await waitFor(() => fake.produced.length === 2);
  // The second record's partition answers first, with an error; the first record's later, fine.
  fake.report(1, { code: ERR.ERR_MSG_SIZE_TOO_LARGE, message: 'too large' });
  fake.report(0);
  assert.equal(await within(first), undefined, 'the first record was delivered');
  await assert.rejects(second, (error: unknown) => error instanceof PipelineError && error.context['kafkaCode'] === 'ERR_MSG_SIZE_TOO_LARGE');
});

test('a produce that throws rejects, leaves no waiter behind, and the transaction cannot commit', async () => {
  const fake = new FakeClient();
  const producer = producerOver(fake);
  await producer.connect();
  const ok = producer.produce('late', 'd0', 'before');
  await waitFor(() => fake.produced.length === 1);
  fake.produceThrows.push({ code: ERR.ERR__QUEUE_FULL, message: 'Local: Queue full' });
  const refused = producer.produce('late', 'd1', 'refused');
  await assert.rejects(refused, (error: unknown) => error instanceof PipelineError && error.context['kafkaCode'] === 'ERR__QUEUE_FULL');
  const after = producer.produce('late', 'd2', 'after');
  await waitFor(() => fake.produced.length === 2);
  fake.report(0);
  fake.report(1);
  // A waiter left queued by the refused record would take one of these reports and strand a write.
  assert.equal(await within(ok), undefined, 'the record before is settled by its own report');
  assert.equal(await within(after), undefined, 'the record after is settled by its own report');
  // The caller was told a record of this transaction failed: committing the rest would lose it.
  await assert.rejects(producer.commit(consumer, 'readings', offsets), (error: unknown) => error instanceof PipelineError && error.code === 'KAFKA_TRANSACTION_ABORTED');
  assert.ok(!fake.calls.includes('commitTransaction'), 'nothing was committed');
  assert.ok(fake.calls.includes('abortTransaction'));
});

test('errors are classified by code, not by message: a fenced producer is fatal and is not aborted', async () => {
  const fake = new FakeClient();
  const producer = producerOver(fake);
  await producer.connect();
  // No flags and a harmless-sounding message: only the code says the producer is finished.
  fake.failures.commitTransaction = [{ code: ERR.ERR_PRODUCER_FENCED, message: 'try again later' }];
  const write = producer.produce('late', 'd1', 'x');
  await waitFor(() => fake.produced.length === 1);
  fake.report(0);
  await write;
  await assert.rejects(producer.commit(consumer, 'readings', offsets), (error: unknown) => error instanceof PipelineError && error.code === 'KAFKA_TRANSACTION_FATAL');
  assert.ok(!fake.calls.includes('abortTransaction'), 'a fenced producer may not abort');
  await assert.rejects(producer.produce('late', 'd2', 'y'), (error: unknown) => error instanceof PipelineError && error.code === 'KAFKA_TRANSACTION_STATE');
});

test('a retriable commit error is retried whatever its message says', async () => {
  const fake = new FakeClient();
  const producer = producerOver(fake);
  await producer.connect();
  fake.failures.commitTransaction = [{ code: ERR.ERR__TIMED_OUT, message: 'Fatal error: broker gone' }];
  await producer.commit(consumer, 'readings', offsets);
  assert.deepEqual(fake.calls, ['beginTransaction', 'sendOffsetsToTransaction', 'commitTransaction', 'commitTransaction']);
});

test('an abortable commit error aborts and reports how many records were lost; the next transaction works', async () => {
  const fake = new FakeClient();
  const producer = producerOver(fake);
  await producer.connect();
  fake.failures.sendOffsetsToTransaction = [{ code: ERR.ERR_ILLEGAL_GENERATION, message: 'generation' }];
  const write = producer.produce('late', 'd1', 'x');
  await waitFor(() => fake.produced.length === 1);
  fake.report(0);
  await write;
  await assert.rejects(producer.commit(consumer, 'readings', offsets), (error: unknown) => {
    return error instanceof PipelineError && error.code === 'KAFKA_TRANSACTION_ABORTED' && error.context['records'] === 1;
  });
  const next = producer.produce('late', 'd2', 'y');
  await waitFor(() => fake.produced.length === 2);
  fake.report(1);
  await next;
  await producer.commit(consumer, 'readings', offsets);
  assert.equal(fake.calls.filter((call) => call === 'commitTransaction').length, 1);
});

test('a failed abort leaves the producer fatal: the commit rejects as fatal, never as a refusal to shrug off', async () => {
  const fake = new FakeClient();
  const producer = producerOver(fake);
  await producer.connect();
  fake.failures.commitTransaction = [{ code: ERR.ERR__MSG_TIMED_OUT, message: 'timed out' }];
  fake.failures.abortTransaction = [{ code: ERR.ERR__TRANSPORT, message: 'down' }, { code: ERR.ERR__TRANSPORT, message: 'down' }, { code: ERR.ERR__TRANSPORT, message: 'down' }, { code: ERR.ERR__TRANSPORT, message: 'down' }];
  await assert.rejects(producer.commit(consumer, 'readings', offsets), (error: unknown) => error instanceof PipelineError && error.code === 'KAFKA_TRANSACTION_FATAL');
  await assert.rejects(producer.commit(consumer, 'readings', offsets), (error: unknown) => error instanceof PipelineError && error.code === 'KAFKA_TRANSACTION_STATE');
});

test('an abort waits for the records of the transaction still in flight (Kafka 4 refuses it before): the transaction is aborted, the producer usable', async () => {
  const fake = new FakeClient();
  const producer = producerOver(fake);
  await producer.connect();
  fake.failures.sendOffsetsToTransaction = [{ code: ERR.ERR_ILLEGAL_GENERATION, message: 'generation' }];
  const write = producer.produce('late', 'd1', 'in flight');
  await waitFor(() => fake.produced.length === 1);
  await assert.rejects(producer.commit(consumer, 'readings', offsets), (error: unknown) => error instanceof PipelineError && error.code === 'KAFKA_TRANSACTION_ABORTED');
  assert.deepEqual(fake.calls.slice(-2), ['flush', 'abortTransaction']);
  await write.catch(() => undefined); // delivered, then taken back with its transaction
  const next = producer.produce('late', 'd2', 'next');
  await waitFor(() => fake.produced.length === 2);
  fake.report(1);
  await next;
  await producer.commit(consumer, 'readings', offsets);
});

test('a flush that times out before an abort is not the end: the abort is sent, and if it fails too, the fatal error names both', async () => {
  const fake = new FakeClient();
  const producer = producerOver(fake);
  await producer.connect();
  fake.failures.sendOffsetsToTransaction = [{ code: ERR.ERR_ILLEGAL_GENERATION, message: 'generation' }];
  fake.failures.flush = [{ code: ERR.ERR__TIMED_OUT, message: 'Local: Timed out' }];
  void producer.produce('late', 'd1', 'in flight').catch(() => undefined);
  await waitFor(() => fake.produced.length === 1);
  await assert.rejects(producer.commit(consumer, 'readings', offsets), (error: unknown) => {
    return error instanceof PipelineError && error.code === 'KAFKA_TRANSACTION_FATAL' && /ERR__TIMED_OUT/.test(String(error.context['flushBefore'])) && error.context['kafkaCode'] === 'ERR_INVALID_TXN_STATE';
  });
  assert.deepEqual(fake.calls.slice(-2), ['flush', 'abortTransaction']);
});
