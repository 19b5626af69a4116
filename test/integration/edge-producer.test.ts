import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaProducer, KafkaProduceError, type ProducerObserver } from '../../src/kafka/producer.ts';
import { createLogger } from '../../src/util/log.ts';
import { eventually } from '../../src/stack/services.ts';
import { createTopics, deleteTopics, readTopic, testConfig, uniqueName } from './edge-harness.ts';

const config = testConfig();
const kafka = config.kafka;
const topic = uniqueName('edge-producer');
const logger = createLogger('edge-producer-test', process.env['TP_LOG__LEVEL'] ?? 'warn');

before(async () => {
  await createTopics(kafka, [{ topic, partitions: 3 }]);
});

after(async () => {
  await deleteTopics(kafka, [topic]);
});

function recordingObserver() {
  const events = { recreated: [] as string[], queueFull: 0, available: [] as boolean[], errors: [] as string[] };
  const observer: ProducerObserver = {
    recreated: (reason) => events.recreated.push(reason),
    queueFullRetry: () => events.queueFull++,
    availabilityChanged: (available) => events.available.push(available),
    kafkaError: (code) => events.errors.push(code),
  };
  return { events, observer };
}

test('produce() resolves on the delivery report; the records are in Kafka with their keys', async () => {
  const producer = new KafkaProducer({ connection: kafka, clientId: 'edge-producer-test', deliveryTimeoutMs: 10_000, logger });
  await producer.connect();
  assert.equal(await producer.partitionCount(topic), 3);
  await Promise.all(Array.from({ length: 500 }, (_, i) => producer.produce(topic, `k-${i % 10}`, `v-${i}`)));
  assert.equal(producer.inFlight(), 0);
  await producer.produce(topic, null, 'explicit', 2);
  await producer.close();
  assert.equal(producer.state, 'closed');
  const records = await readTopic(kafka, topic);
  assert.equal(records.length, 501);
  assert.equal(records.find((record) => record.value?.toString() === 'explicit')?.partition, 2);
  const partitionsOfKey = new Set(records.filter((record) => record.key?.toString() === 'k-3').map((record) => record.partition));
  assert.equal(partitionsOfKey.size, 1, 'one key, one partition');
  await assert.rejects(producer.produce(topic, null, 'late'), (error: KafkaProduceError) => error.code === 'KAFKA_PRODUCER_CLOSED');
});

test('a full librdkafka queue is waited out locally: every record is still delivered, in order per key', async () => {
  const { events, observer } = recordingObserver();
  const producer = new KafkaProducer({ connection: kafka, clientId: 'edge-producer-test', deliveryTimeoutMs: 10_000, logger, observer, maxQueuedMessages: 20 });
  await producer.connect();
  const order: number[] = [];
  await Promise.all(Array.from({ length: 2000 }, (_, i) => producer.produce(topic, 'queue-full', `q-${i}`).then(() => order.push(i))));
  assert.ok(events.queueFull > 0, 'the queue was full at least once');
  assert.deepEqual(order, [...order].sort((a, b) => a - b), 'delivery reports in produce order for one key');
  await producer.close();
  // Records that waited kept their own bytes (string values are encoded into one reused buffer).
  const values = (await readTopic(kafka, topic)).filter((record) => record.key?.toString() === 'queue-full').map((record) => record.value!.toString());
  assert.deepEqual(values, Array.from({ length: 2000 }, (_, i) => `q-${i}`));
});

test('a message timeout is an indefinite outcome: the record fails and the producer is re-created', async () => {
  const { events, observer } = recordingObserver();
  const producer = new KafkaProducer({ connection: kafka, clientId: 'edge-producer-test', deliveryTimeoutMs: 1500, logger, observer });
  await producer.connect();
  // A topic that does not exist (auto creation is off): librdkafka holds the record until it times out.
  const outcome = await producer.produce(uniqueName('edge-missing'), 'k', 'never').then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(outcome instanceof KafkaProduceError);
  assert.equal(outcome.code, 'KAFKA_DELIVERY_INDEFINITE');
  assert.equal(outcome.indefinite, true);
  assert.equal(outcome.retriable, true);
  assert.equal(events.recreated.length, 1);
  assert.match(events.recreated[0]!, /MSG_TIMED_OUT/);
  // The new instance works.
  await eventually('the re-created producer is ready', async () => (producer.state === 'ready' ? true : undefined), 20_000, 50);
  await producer.produce(topic, 'k', 'after-recreation');
  assert.deepEqual(events.available.slice(-2), [false, true]);
  await producer.close();
});

test('flush() waits for every record handed over; close() with nothing in flight fails nothing', async () => {
  const producer = new KafkaProducer({ connection: kafka, clientId: 'edge-producer-test', deliveryTimeoutMs: 10_000, logger });
  await producer.connect();
  let delivered = 0;
  for (let i = 0; i < 300; i++) producer.send(topic, 'flush', Buffer.from(`f-${i}`), null, (error) => error === undefined && delivered++);
  assert.ok(producer.inFlight() > 0);
  await producer.flush(10_000);
  assert.equal(delivered, 300);
  assert.equal(producer.inFlight(), 0);
  await producer.close();
});
