import KafkaLib, { type Message } from '@confluentinc/kafka-javascript';
import { withRetry } from '../../src/util/retry.ts';
import { uniqueName } from './stack.ts';
import { connectionProperties, type KafkaConnection } from '../../src/kafka/connection.ts';

/**
 * Reads every record present in `topic` now, up to each partition's high watermark, handing each to
 * `onMessage`; resolves with whether every partition was read to its high watermark within
 * `timeoutMs` (the caller decides whether falling short is an error). Used by the edge tests, the
 * chaos audit and the security audit, each with its own consumer group (`groupPrefix`).
 */
export async function readWholeTopic(
  connection: KafkaConnection,
  topic: string,
  onMessage: (message: Message) => void,
  options: { readonly groupPrefix: string; readonly timeoutMs: number },
): Promise<boolean> {
  const consumer = new KafkaLib.KafkaConsumer(
    { ...connectionProperties(connection), 'group.id': uniqueName(options.groupPrefix), 'enable.auto.commit': false, 'fetch.wait.max.ms': 50 },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 10_000 }, (error) => (error ? reject(error) : resolve())));
  try {
    const metadata = await new Promise<KafkaLib.Metadata>((resolve, reject) =>
      consumer.getMetadata({ topic, timeout: 10_000 }, (error, data) => (error ? reject(error) : resolve(data))),
    );
    const partitions = metadata.topics.find((candidate) => candidate.name === topic)?.partitions.map((partition) => partition.id) ?? [];
    const highs = new Map<number, number>();
    for (const partition of partitions) {
      // Right after a broker restart a partition may have no leader yet ("Not leader for
      // partition"): ask again, for a bounded time, until one is elected.
      const offsets = await withRetry(
        () =>
          new Promise<KafkaLib.WatermarkOffsets>((resolve, reject) =>
            consumer.queryWatermarkOffsets(topic, partition, 10_000, (error, data) => (error ? reject(error) : resolve(data))),
          ),
        { policy: { maxAttempts: 30, initialDelayMs: 250, maxDelayMs: 2000, maxElapsedMs: 60_000 }, operation: `high watermark of ${topic}/${partition}`, shouldRetry: () => true },
      );
      if (offsets.highOffset > offsets.lowOffset) highs.set(partition, offsets.highOffset);
    }
    if (highs.size === 0) return true;
    // Without this, consume(n) waits for n records as long as any keep coming (ticks always do).
    (consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(only: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
    consumer.setDefaultConsumeTimeout(1000);
    consumer.assign([...highs.keys()].map((partition) => ({ topic, partition, offset: 0 })));
    const reached = new Set<number>();
    const deadline = Date.now() + options.timeoutMs;
    while (reached.size < highs.size && Date.now() < deadline) {
      const batch = await new Promise<Message[]>((resolve, reject) => consumer.consume(5000, (error, messages) => (error ? reject(error) : resolve(messages))));
      for (const message of batch) {
        onMessage(message);
        if (message.offset + 1 >= highs.get(message.partition)!) reached.add(message.partition);
      }
      // A transactional topic ends in a commit or abort marker, which no message shows: the
      // consumer's position moves past it.
      for (const { partition, offset } of consumer.position()) {
        if (offset !== undefined && offset >= highs.get(partition)!) reached.add(partition);
      }
    }
    return reached.size === highs.size;
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}
