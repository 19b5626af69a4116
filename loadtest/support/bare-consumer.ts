import kafkaJs from '@confluentinc/kafka-javascript';
import type { KafkaConsumer, Message } from '@confluentinc/kafka-javascript';
import { ReadingsConsumer, consumerSettings } from '../../src/kafka/consumer.ts';
import type { KafkaConnection } from '../../src/kafka/connection.ts';

/**
 * The aggregator benchmark's baselines: one consumer that reads a topic of `total` records and
 * does nothing with them, in one of two ways, with the pipelines' consumer settings:
 *   'library' — the library's own consume(), a JavaScript object and buffers per record: what a
 *               user writing a bare Node consumer gets, and what the benchmark's ratio divides by;
 *   'batch'   — the pipelines' ReadingsConsumer over the patched batch consume (decision 0022),
 *               reported beside it so that the batch consume's share of the aggregator's lead shows.
 * Resolves with the seconds from the first record to the last.
 */
export async function drainTopic(options: { connection: KafkaConnection; topic: string; total: number; groupId: string; how: 'library' | 'batch' }): Promise<number> {
  const settings = { connection: options.connection, groupId: options.groupId, clientId: `bench-baseline-${options.how}`, isolation: 'read_committed', autoCommit: false, sessionTimeoutMs: 10_000 } as const;
  const read = options.how === 'library' ? await libraryReader(settings, options.topic) : await batchReader(settings, options.topic);
  let seen = 0;
  let started = 0;
  try {
    while (seen < options.total) {
      const count = await read.next();
      if (count > 0 && started === 0) started = performance.now();
      seen += count;
    }
  } finally {
    await read.close();
  }
  return (performance.now() - started) / 1000;
}

interface Reader {
  /** Records in the next batch (0 after the consume timeout). */
  next(): Promise<number>;
  close(): Promise<void>;
}

type Settings = Parameters<typeof consumerSettings>[0];

async function libraryReader(settings: Settings, topic: string): Promise<Reader> {
  const consumer: KafkaConsumer = new kafkaJs.KafkaConsumer(consumerSettings(settings), { 'auto.offset.reset': 'earliest' });
  await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 30_000 }, (error) => (error ? reject(error) : resolve())));
  consumer.subscribe([topic]);
  consumer.setDefaultConsumeTimeout(100);
  return {
    next: () => new Promise<number>((resolve, reject) => consumer.consume(5000, (error: unknown, messages: Message[]) => (error ? reject(error) : resolve(messages.length)))),
    close: () => new Promise<void>((resolve) => consumer.disconnect(() => resolve())),
  };
}

async function batchReader(settings: Settings, topic: string): Promise<Reader> {
  const consumer = new ReadingsConsumer({
    ...settings,
    topic,
    onAssigned: async () => new Map(),
    onRevoked: () => undefined,
    onError: (error) => {
      throw error;
    },
  });
  await consumer.connect();
  consumer.setConsumeTimeout(100);
  return { next: async () => (await consumer.consume(5000)).count, close: () => consumer.disconnect() };
}
