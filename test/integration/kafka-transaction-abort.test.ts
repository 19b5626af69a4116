import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkaJs from '@confluentinc/kafka-javascript';
import type { KafkaConsumer } from '@confluentinc/kafka-javascript';
import { PipelineError } from '../../src/core/errors.ts';
import { ensureTopics } from '../../src/kafka/admin.ts';
import { consumerSettings } from '../../src/kafka/consumer.ts';
import { TransactionalProducer } from '../../src/kafka/transactional-producer.ts';
import { readTopic } from './edge-harness.ts';
import { testConfig, uniqueName } from '../support/stack.ts';

/**
 * The aggregator aborts a transaction when its commit is refused (a rebalance took its partitions,
 * a record of it failed), often while records of it are still on their way to the brokers. Kafka 4
 * refused such an abort now and then (INVALID_TXN_STATE), which left the producer fatal and its
 * worker to restart. Here every other transaction is aborted with hundreds of records in flight:
 * each abort must succeed, each following transaction commit, and only the committed records be read.
 */
const config = testConfig();
const ROUNDS = 30;
const RECORDS = 300;

test('a transaction aborted with its records in flight is aborted, and the next one commits', { timeout: 180_000 }, async (t) => {
  const id = uniqueName('txn-abort');
  const topic = `${id}-late`;
  const source = `${id}-readings`;
  await ensureTopics(config.kafka, [
    { topic, partitions: 3, replicationFactor: config.kafka.replicationFactor },
    { topic: source, partitions: 1, replicationFactor: config.kafka.replicationFactor },
  ]);
  const producer = new TransactionalProducer({ connection: config.kafka, transactionalId: `${id}-tx`, clientId: id });
  await producer.connect();
  t.after(() => producer.close());
  // sendOffsetsToTransaction needs a consumer of a group: one that never joins commits as a simple consumer.
  const consumer: KafkaConsumer = new kafkaJs.KafkaConsumer(
    consumerSettings({ connection: config.kafka, clientId: id, groupId: `${id}-group`, isolation: 'read_committed', autoCommit: false, sessionTimeoutMs: 10_000 }),
    {},
  );
  await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 30_000 }, (error) => (error ? reject(error) : resolve())));
  t.after(() => new Promise<void>((resolve) => consumer.disconnect(() => resolve())));

  const refusals: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const writes = Array.from({ length: RECORDS }, (_, index) => producer.produce(topic, `device-${index % 7}`, `committed ${round}:${index}`));
    await Promise.all(writes);
    await producer.commit(consumer, source, new Map([[0, round + 1]]));

    // Records librdkafka has not delivered yet, and one it refuses at once (over message.max.bytes):
    // the commit is refused and the transaction aborted with the others in flight.
    const inFlight = Array.from({ length: RECORDS }, (_, index) => producer.produce(topic, `device-${index % 7}`, `aborted ${round}:${index}`).catch(() => 'taken back'));
    const tooLarge = producer.produce(topic, 'device-0', 'x'.repeat(2 * 1024 * 1024)).catch((error: unknown) => error);
    assert.ok((await tooLarge) instanceof PipelineError);
    const outcome = await producer.commit(consumer, source, new Map([[0, round + 1]])).then(
      () => 'committed',
      (error: unknown) => (error instanceof PipelineError ? error.code : String(error)),
    );
    if (outcome !== 'KAFKA_TRANSACTION_ABORTED') refusals.push(`round ${round}: ${outcome}`);
    await Promise.all(inFlight);
    if (producer.phase === 'fatal') break;
  }
  assert.deepEqual(refusals, [], 'every transaction with a refused record was aborted, none left the producer fatal');

  // librdkafka's consumers read read_committed unless told otherwise.
  const values = (await readTopic(config.kafka, topic)).map((record) => record.value!.toString());
  assert.equal(values.filter((value) => value.startsWith('aborted')).length, 0, 'nothing of an aborted transaction is read');
  assert.equal(values.length, ROUNDS * RECORDS, 'every committed record is read');
});
