import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkaJs from '@confluentinc/kafka-javascript';
import type { KafkaConsumer, LibrdKafkaError, Message } from '@confluentinc/kafka-javascript';
import { ensureTopics } from '../../src/kafka/admin.ts';
import { ReadingsConsumer, consumerSettings } from '../../src/kafka/consumer.ts';
import { recordOffset, recordPartition, recordTimestamp, recordValue } from '../../src/kafka/record-batch.ts';
import { eventually } from '../../src/stack/services.ts';
import { connectRawProducer } from '../support/raw-producer.ts';
import { testConfig, uniqueName } from '../support/stack.ts';

/**
 * The aggregator reads through the patched binding's batch consume (consumeRaw, decision 0022).
 * Here it reads a topic against the library's own consume() as the reference: every committed
 * record, with the same partition, offset, timestamp and value bytes — null values, empty ones,
 * bytes that are not UTF-8, a 200 KB value, records with keys and headers — and nothing of an
 * aborted transaction. Both read under read_committed, as the exactly-once tier does.
 */
interface Seen {
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly value: string | null;
}

const config = testConfig();

function transact(producer: kafkaJs.Producer, step: 'initTransactions' | 'beginTransaction' | 'commitTransaction' | 'abortTransaction'): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error: LibrdKafkaError | null): void => (error ? reject(new Error(`${step}: ${error.message}`)) : resolve());
    if (step === 'beginTransaction') producer.beginTransaction(done);
    else producer[step](30_000, done);
  });
}

function key(record: { partition: number; offset: number }): string {
  return `${record.partition}:${record.offset}`;
}

function byPosition(a: Seen, b: Seen): number {
  return a.partition - b.partition || a.offset - b.offset;
}

test('the batch consume delivers every committed record exactly as the library consume does', { timeout: 120_000 }, async (t) => {
  const id = uniqueName('batch-consume');
  const topic = `${id}-records`;
  await ensureTopics(config.kafka, [{ topic, partitions: 3, replicationFactor: config.kafka.replicationFactor }]);
  const producer = await connectRawProducer(config.kafka, { 'transactional.id': `${id}-tx`, 'enable.idempotence': true, 'linger.ms': 5 });
  producer.setPollInterval(10);
  t.after(() => producer.disconnect());

  const values: (Buffer | null)[] = [
    null,
    Buffer.alloc(0),
    Buffer.from('{"v":1,"device":"capteur-é","metrics":{"température":21.5}}'),
    Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3]),
    Buffer.alloc(200 * 1024, 'x'),
  ];
  let committed = 0;
  await transact(producer, 'initTransactions');
  for (const outcome of ['commit', 'abort', 'commit'] as const) {
    await transact(producer, 'beginTransaction');
    for (let index = 0; index < 300; index++) {
      const value = outcome === 'abort' ? Buffer.from(`aborted-${index}`) : (values[index % values.length] ?? null);
      const headers = index % 3 === 0 ? [{ origin: Buffer.from(`h-${index}`) }] : undefined;
      producer.produce(topic, index % 3, value, index % 2 === 0 ? `device-${index}` : null, Date.now(), undefined, headers);
      if (outcome === 'commit') committed++;
    }
    // Every record of the transaction delivered first: an abort sent while produce requests are
    // in flight was refused now and then (INVALID_TXN_STATE, about one run in ten here).
    await new Promise<void>((resolve, reject) => producer.flush(30_000, (error) => (error ? reject(error) : resolve())));
    await transact(producer, outcome === 'commit' ? 'commitTransaction' : 'abortTransaction');
  }

  const settings = { connection: config.kafka, clientId: id, isolation: 'read_committed', autoCommit: false, sessionTimeoutMs: 10_000 } as const;

  // The reference: the library's own consume(), one object per record.
  const library: KafkaConsumer = new kafkaJs.KafkaConsumer(consumerSettings({ ...settings, groupId: `${id}-library` }), { 'auto.offset.reset': 'earliest' });
  await new Promise<void>((resolve, reject) => library.connect({ timeout: 30_000 }, (error) => (error ? reject(error) : resolve())));
  t.after(() => new Promise<void>((resolve) => library.disconnect(() => resolve())));
  library.subscribe([topic]);
  library.setDefaultConsumeTimeout(100);
  const expected = new Map<string, Seen>();
  await eventually('the library consume read every committed record', async () => {
    const messages = await new Promise<Message[]>((resolve, reject) => library.consume(50, (error, batch) => (error ? reject(error) : resolve(batch))));
    for (const message of messages) {
      expected.set(key(message), { partition: message.partition, offset: message.offset, timestamp: message.timestamp ?? -1, value: message.value === null ? null : message.value.toString('hex') });
    }
    return expected.size >= committed ? true : undefined;
  }, 60_000, 0);

  // The batch consume, through the pipelines' consumer, in small batches.
  const batched = new ReadingsConsumer({ ...settings, groupId: `${id}-batch`, topic, onAssigned: async () => new Map(), onRevoked: () => undefined, onError: (error) => assert.fail(error.message) });
  await batched.connect();
  t.after(() => batched.disconnect());
  batched.setConsumeTimeout(100);
  const seen = new Map<string, Seen>();
  let deliveredTwice = 0;
  await eventually('the batch consume read every committed record', async () => {
    const batch = batched.stillCurrent(await batched.consume(7));
    for (let index = 0; index < batch.count; index++) {
      const value = recordValue(batch, index);
      const record = { partition: recordPartition(batch, index), offset: recordOffset(batch, index), timestamp: recordTimestamp(batch, index), value: value === null ? null : value.toString('hex') };
      if (seen.has(key(record))) deliveredTwice++;
      seen.set(key(record), record);
    }
    return seen.size >= committed ? true : undefined;
  }, 60_000, 0);

  assert.equal(expected.size, committed, 'the reference read each committed record once and no aborted one');
  assert.equal(deliveredTwice, 0);
  assert.deepEqual([...seen.values()].sort(byPosition), [...expected.values()].sort(byPosition));
  // librdkafka hands an empty value over as no value at all: both ways read it as null.
  assert.ok([...seen.values()].some((record) => record.value === null), 'records without a value were read');
  assert.ok([...seen.values()].some((record) => record.value?.length === 400 * 1024), 'the 200 KB value was read whole');
});
